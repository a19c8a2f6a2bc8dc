package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postee-fleet/posteed/agent/suggest"
)

// Error is one problem in a config file, located by line and key.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one load.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Duration is a time.Duration written as Go duration text ("10s", "1m30s"),
// or whole days ("3d"); a bare integer is taken as seconds.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be text such as \"10s\"", n.Line)
	}
	if n.Tag == "!!int" {
		var secs int64
		if err := n.Decode(&secs); err != nil {
			return err
		}
		*d = Duration(time.Duration(secs) * time.Second)
		return nil
	}
	text := strings.ReplaceAll(n.Value, " ", "") // Postee accepts "10 m"
	if days, ok := strings.CutSuffix(text, "d"); ok {
		var k int64
		if _, err := fmt.Sscanf(days, "%d", &k); err == nil && k >= 0 && fmt.Sprint(k) == days {
			*d = Duration(time.Duration(k) * 24 * time.Hour)
			return nil
		}
	}
	v, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. \"10s\", \"2m\")", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Decoder returns a function that strictly decodes the mapping node into a
// struct: keys the struct does not declare (by yaml tag) are errors, except
// those listed in skip, which the caller handles itself. Errors name file,
// line and key, prefixed by where (e.g. `actions[2] "my-exec"`).
func Decoder(file, where string, node *yaml.Node, skip ...string) func(v any) error {
	return ResolvingDecoder(file, where, node, nil, skip...)
}

// ResolvingDecoder is Decoder that also resolves the references in the typed
// values (Secret, SecretURL, URL, Text) it decodes, with r. A nil r checks
// their syntax only, as for an action that runs elsewhere.
func ResolvingDecoder(file, where string, node *yaml.Node, r *Resolver, skip ...string) func(v any) error {
	if r == nil {
		r = &Resolver{Remote: true}
	}
	return func(v any) error {
		_, err := decodeStrict(file, where, node, v, nil, skip, r)
		return err
	}
}

// decodeStrict decodes node into the struct v and resolves the typed values
// in it with r. A key v does not declare is an error, unless foreign names
// it: a key Postee reads here that posteed does not use, accepted with a
// warning (the map's value says why it is not used; "" for the general
// reason).
func decodeStrict(file, where string, node *yaml.Node, v any, foreign map[string]string, skip []string, r *Resolver) (warns Errors, err error) {
	if node == nil {
		return nil, nil
	}
	if node.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: node.Line, Key: where, Msg: "must be a mapping of keys to values"}}
	}
	if r == nil {
		r = &Resolver{Remote: true}
	}
	var errs Errors
	known := yamlKeys(reflect.TypeOf(v))
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, val := node.Content[i], node.Content[i+1]
		if contains(skip, k.Value) {
			continue
		}
		if !known[k.Value] {
			if why, ok := foreign[k.Value]; ok {
				warns = append(warns, &Error{File: file, Line: k.Line, Key: where + "." + k.Value, Msg: notUsed(why)})
				continue
			}
			errs = append(errs, &Error{File: file, Line: k.Line, Key: where + "." + k.Value,
				Msg: "unknown key" + didYouMean(k.Value, known)})
			continue
		}
		ptr := fieldPtr(v, k.Value)
		if err := val.Decode(ptr); err != nil {
			errs = append(errs, decodeError(file, where+"."+k.Value, val, err))
			continue
		}
		errs = append(errs, r.walk(reflect.ValueOf(ptr), file, where+"."+k.Value)...)
	}
	if len(errs) > 0 {
		return warns, errs
	}
	return warns, nil
}

// decodeError places a decoding error at the key's line, or at the line of
// the nested value that a typed value reports.
func decodeError(file, key string, val *yaml.Node, err error) *Error {
	var ve *Error
	if errors.As(err, &ve) {
		return &Error{File: file, Line: ve.Line, Key: key, Msg: ve.Msg}
	}
	return &Error{File: file, Line: val.Line, Key: key, Msg: cleanYAMLError(err)}
}

// fieldPtr returns a pointer to the field of struct pointer v whose yaml tag is key.
func fieldPtr(v any, key string) any {
	rv := reflect.ValueOf(v).Elem()
	return fieldByTag(rv, key)
}

func fieldByTag(rv reflect.Value, key string) any {
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if f.Anonymous && len(tag) > 1 && tag[1] == "inline" {
			if p := fieldByTag(rv.Field(i), key); p != nil {
				return p
			}
			continue
		}
		if tag[0] == key {
			return rv.Field(i).Addr().Interface()
		}
	}
	return nil
}

func yamlKeys(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if f.Anonymous && len(tag) > 1 && tag[1] == "inline" {
			for k := range yamlKeys(f.Type) {
				out[k] = true
			}
			continue
		}
		if tag[0] != "" && tag[0] != "-" {
			out[tag[0]] = true
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// didYouMean proposes the closest known key, to catch typos.
func didYouMean(key string, known map[string]bool) string {
	return suggest.DidYouMean(key, slices.Collect(maps.Keys(known)))
}

// cleanYAMLError strips yaml.v3's "yaml: unmarshal errors:\n  line N: " wrapping.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return stripLine(te.Errors[0])
	}
	return stripLine(err.Error())
}

func stripLine(s string) string {
	if strings.HasPrefix(s, "line ") {
		if i := strings.Index(s, ": "); i > 0 {
			return s[i+2:]
		}
	}
	return s
}
