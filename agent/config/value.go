package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The typed values below are how an action declares what a key holds, so
// that secrets and URLs are read, resolved and checked in one place: the
// strict decoder. Each accepts the text as written or a reference to where
// the text really is:
//
//	$NAME or ${NAME}   the environment variable NAME
//	file:PATH          the trimmed contents of PATH; a relative PATH is
//	                   read from $CREDENTIALS_DIRECTORY (systemd LoadCredential=)
//
// Only a whole value is a reference: "$HOME/bin" is text. A resolved
// Secret, SecretURL, or referenced Text is handed to the Resolver's Register
// so that it can be redacted from every error and log line.
//
// Errors name the key's own file and line, and never contain a secret.

// Resolver resolves references while a config is decoded.
type Resolver struct {
	// LookupEnv resolves $NAME; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// CredentialsDir is where a relative file: reference is read.
	CredentialsDir string
	// Remote is set when the action runs on a runner: a reference's syntax
	// is checked, but it need not resolve here (the runner resolves it).
	Remote bool
	// Register hears every secret value, resolved or written literally.
	Register func(secret string)
}

var (
	envRef       = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)
	bracedEnvRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
)

// value is what every typed value holds.
type value struct {
	raw      string       // as written; a reference or the text itself
	line     int          // where it was written
	val      string       // the text, once resolved
	resolved bool         // val is the real text (false: a reference left for the runner)
	register func(string) // the Resolver's Register, for values derived later
}

// unmarshal reads a scalar and checks a reference's syntax.
func (v *value) unmarshal(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &Error{Line: n.Line, Msg: "must be text, not a list or mapping"}
	}
	*v = value{line: n.Line}
	if n.Tag == "!!null" {
		return nil
	}
	v.raw = strings.TrimSpace(n.Value)
	if _, isRef, err := v.ref(); err != nil {
		return &Error{Line: n.Line, Msg: err.Error()}
	} else if !isRef {
		v.val, v.resolved = v.raw, true
	}
	return nil
}

// ref reports whether raw is a reference, and to what: an environment
// variable name or "file:PATH".
func (v *value) ref() (target string, isRef bool, err error) {
	if m := envRef.FindStringSubmatch(v.raw); m != nil {
		return m[1], true, nil
	}
	if m := bracedEnvRef.FindStringSubmatch(v.raw); m != nil {
		return m[1], true, nil
	}
	if strings.HasPrefix(v.raw, "${") {
		return "", false, errors.New(`not a valid reference: write ${NAME}, NAME made of letters, digits and _`)
	}
	if path, ok := strings.CutPrefix(v.raw, "file:"); ok {
		if strings.TrimSpace(path) == "" {
			return "", false, errors.New("file: needs a path (file:NAME reads $CREDENTIALS_DIRECTORY/NAME)")
		}
		return v.raw, true, nil
	}
	return "", false, nil
}

// resolve fetches a reference's text. A remote action's references are
// left for the runner; when one resolves here as well, its text is still
// registered if it is a secret, since the runner's errors come back here.
func (v *value) resolve(r *Resolver, secret bool) error {
	v.register = r.Register
	target, isRef, _ := v.ref()
	if !isRef || v.resolved {
		return nil
	}
	text, err := r.fetch(target)
	switch {
	case r.Remote:
		if err == nil && secret {
			v.keep(text)
		}
		return nil
	case err != nil:
		return err
	}
	v.val, v.resolved = text, true
	return nil
}

func (r *Resolver) fetch(target string) (string, error) {
	path, isFile := strings.CutPrefix(target, "file:")
	if !isFile {
		lookup := r.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		text, ok := lookup(target)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", target)
		}
		return text, nil
	}
	if !filepath.IsAbs(path) && r.CredentialsDir != "" {
		path = filepath.Join(r.CredentialsDir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// keep hands s to the Resolver's Register.
func (v *value) keep(s string) {
	if v.register != nil && s != "" {
		v.register(s)
	}
}

// Value is the text, or "" when unset or a reference left for the runner.
func (v value) Value() string { return v.val }

// Set reports whether the key was given a non-empty value.
func (v value) Set() bool { return v.raw != "" }

// Resolved reports whether Value is the real text: false for a remote
// action's reference, which the runner resolves.
func (v value) Resolved() bool { return v.resolved }

// Line is where the value was written.
func (v value) Line() int { return v.line }

// Secret is a password, token or key: never printed, always redacted.
type Secret struct{ value }

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error { return s.unmarshal(n) }

func (s *Secret) resolveWith(r *Resolver) error {
	if err := s.resolve(r, true); err != nil {
		return err
	}
	s.keep(s.val)
	return nil
}

// String keeps a secret out of anything formatted with %v.
func (s Secret) String() string { return "[secret]" }

// BasicAuth is the Authorization header value for user and this password;
// it is redacted too, since a server may echo the header.
func (s Secret) BasicAuth(user string) string {
	h := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+s.val))
	s.keep(h)
	return h
}

// Text is plain text that may be a reference; a referenced value is a
// secret (e.g. an exec `env` entry "TOKEN=$API_TOKEN"), a literal is not.
type Text struct{ value }

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *Text) UnmarshalYAML(n *yaml.Node) error { return t.unmarshal(n) }

func (t *Text) resolveWith(r *Resolver) error {
	literal := t.resolved
	if err := t.resolve(r, true); err != nil {
		return err
	}
	if !literal {
		t.keep(t.val)
	}
	return nil
}

// String is the text.
func (t Text) String() string { return t.val }

// Keep marks a literal value as a secret too (an Authorization header
// written in the config).
func (t Text) Keep() { t.keep(t.val) }

// URL is an absolute http(s) URL that is not a secret, though a password
// inside it is.
type URL struct {
	value
	u *url.URL
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (u *URL) UnmarshalYAML(n *yaml.Node) error {
	if err := u.unmarshal(n); err != nil {
		return err
	}
	if err := u.check(); err != nil {
		return &Error{Line: n.Line, Msg: err.Error()}
	}
	return nil
}

func (u *URL) check() error {
	u.u = nil
	if !u.resolved || u.val == "" {
		return nil
	}
	p, err := parseHTTP(u.val)
	if err != nil {
		return err
	}
	u.u = p
	return nil
}

func (u *URL) resolveWith(r *Resolver) error {
	if err := u.resolve(r, false); err != nil {
		return err
	}
	if err := u.check(); err != nil {
		return err
	}
	if u.u != nil && u.u.User != nil {
		p, _ := u.u.User.Password()
		u.keep(p)
	}
	return nil
}

// URL is the parsed URL, nil when unset or unresolved.
func (u URL) URL() *url.URL {
	if u.u == nil {
		return nil
	}
	c := *u.u
	return &c
}

// String is the URL with any password masked.
func (u URL) String() string {
	if u.u == nil {
		return u.raw
	}
	return u.u.Redacted()
}

// Or is the URL's text, or def when the key was not given.
func (u URL) Or(def string) string {
	if !u.Set() {
		return def
	}
	return u.val
}

// SecretURL is an absolute http(s) URL that holds a credential (a Slack or
// Teams webhook): never printed, always redacted.
type SecretURL struct {
	value
	u *url.URL
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *SecretURL) UnmarshalYAML(n *yaml.Node) error {
	if err := s.unmarshal(n); err != nil {
		return err
	}
	if err := s.check(); err != nil {
		return &Error{Line: n.Line, Msg: err.Error()}
	}
	return nil
}

// check parses the URL; the text is a secret, so an error says what is
// wrong, never what it is.
func (s *SecretURL) check() error {
	s.u = nil
	if !s.resolved || s.val == "" {
		return nil
	}
	p, err := parseHTTP(s.val)
	if err != nil {
		return err
	}
	s.u = p
	return nil
}

func (s *SecretURL) resolveWith(r *Resolver) error {
	if err := s.resolve(r, true); err != nil {
		return err
	}
	s.keep(s.val)
	return s.check()
}

// URL is the parsed URL, nil when unset or unresolved.
func (s SecretURL) URL() *url.URL {
	if s.u == nil {
		return nil
	}
	c := *s.u
	return &c
}

// String keeps the URL out of anything formatted with %v.
func (s SecretURL) String() string { return "[secret url]" }

// parseHTTP accepts an absolute http or https URL. Its errors never quote
// the text.
func parseHTTP(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("must be an absolute http:// or https:// URL")
	}
	return u, nil
}

// resolver is implemented by the typed values.
type resolver interface {
	resolveWith(r *Resolver) error
	Line() int
}

// walk resolves every typed value reachable from v, a decoded key's value,
// naming each problem by the value's own line and key path.
func (r *Resolver) walk(v reflect.Value, file, key string) Errors {
	if !v.IsValid() {
		return nil
	}
	if v.CanAddr() {
		if tv, ok := v.Addr().Interface().(resolver); ok {
			if err := tv.resolveWith(r); err != nil {
				return Errors{{File: file, Line: tv.Line(), Key: key, Msg: err.Error()}}
			}
			return nil
		}
	}
	var errs Errors
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			errs = append(errs, r.walk(v.Elem(), file, key)...)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			sub := key
			if name := strings.Split(f.Tag.Get("yaml"), ",")[0]; name != "" && name != "-" {
				sub = key + "." + name
			}
			errs = append(errs, r.walk(v.Field(i), file, sub)...)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			errs = append(errs, r.walk(v.Index(i), file, fmt.Sprintf("%s[%d]", key, i))...)
		}
	case reflect.Map:
		errs = append(errs, r.walkMap(v, file, key)...)
	}
	return errs
}

// walkMap resolves map values through an addressable copy, in key order.
func (r *Resolver) walkMap(v reflect.Value, file, key string) Errors {
	keys := v.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	var errs Errors
	for _, k := range keys {
		elem := reflect.New(v.Type().Elem()).Elem()
		elem.Set(v.MapIndex(k))
		errs = append(errs, r.walk(elem, file, fmt.Sprintf("%s.%v", key, k))...)
		v.SetMapIndex(k, elem)
	}
	return errs
}

// EnvVar is one "NAME=value" environment entry (exec `env`, docker
// `docker-env`); the value may be a reference, and anything else, such as
// "$HOME/bin", is passed on as written.
type EnvVar struct {
	Name  string
	Value Text
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (e *EnvVar) UnmarshalYAML(n *yaml.Node) error {
	k, v, ok := strings.Cut(n.Value, "=")
	if n.Kind != yaml.ScalarNode || !ok || k == "" || strings.ContainsAny(k, " \t\x00") {
		return &Error{Line: n.Line, Msg: "want NAME=value"}
	}
	e.Name = k
	return e.Value.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: n.Line})
}

// String is the "NAME=value" entry, value resolved.
func (e EnvVar) String() string { return e.Name + "=" + e.Value.Value() }
