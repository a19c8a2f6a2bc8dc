package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/action/subst"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of an http action, plus insecure-skip-verify.
type Config struct {
	// URL may be a secret reference ($NAME or file:PATH). Postee did not
	// substitute event.input in it, and neither do we.
	URL     string                  `yaml:"url"`
	Method  string                  `yaml:"method"`
	Headers map[string]HeaderValues `yaml:"headers"`
	Timeout config.Duration         `yaml:"timeout"`
	// BodyContent and BodyFile (read once, at load) are the request body,
	// with event.input references replaced; without them the body is the
	// rendered message.
	BodyContent string `yaml:"body-content"`
	BodyFile    string `yaml:"body-file"`
	// InsecureSkipVerify turns TLS certificate checks off. Postee never
	// verified; we always do unless told not to.
	InsecureSkipVerify bool `yaml:"insecure-skip-verify"`
}

// HeaderValues is a header's values: a list, as Postee wrote them, or one
// string.
type HeaderValues []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (h *HeaderValues) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*h = HeaderValues{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*h = list
	return nil
}

var methods = map[string]bool{
	nethttp.MethodGet: true, nethttp.MethodHead: true, nethttp.MethodPost: true, nethttp.MethodPut: true,
	nethttp.MethodPatch: true, nethttp.MethodDelete: true, nethttp.MethodOptions: true,
}

// secretRef matches the values that Spec.Secret resolves.
var secretRef = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]*|file:.+)$`)

var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (c *Config) setDefaults() {
	c.Method = strings.ToUpper(strings.TrimSpace(c.Method))
	if c.Method == "" {
		c.Method = nethttp.MethodPost
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
}

// newHTTP validates the config and builds the action.
func newHTTP(spec action.Spec, c Config) (*HTTP, error) {
	c.setDefaults()
	if !methods[c.Method] {
		return nil, fmt.Errorf("method %q is not an HTTP method", c.Method)
	}
	u, err := resolveURL(spec.Secret, c.URL)
	if err != nil {
		return nil, err
	}
	headers, err := resolveHeaders(spec.Secret, c.Headers)
	if err != nil {
		return nil, err
	}
	body, err := c.bodyTemplate(spec.BaseDir, spec.Remote)
	if err != nil {
		return nil, err
	}
	h := &HTTP{
		name: spec.Name, url: u, method: c.Method, headers: headers, body: body,
		client: httpx.NewClient(c.Timeout.D(), c.InsecureSkipVerify),
	}
	if body == nil && c.BodyFile != "" {
		h.remoteBody = c.BodyFile
	}
	return h, nil
}

// resolveURL checks the URL without ever putting it in an error: it may
// carry a token.
func resolveURL(secret func(field, value string) (string, error), raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("url is required")
	}
	if secret != nil && secretRef.MatchString(raw) {
		v, err := secret("url", raw)
		if err != nil {
			return "", fmt.Errorf("url: %w", err)
		}
		raw = v
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("url must be an absolute http:// or https:// URL")
	}
	return u.String(), nil
}

func resolveHeaders(secret func(field, value string) (string, error), in map[string]HeaderValues) (nethttp.Header, error) {
	out := nethttp.Header{}
	for name, vals := range in {
		if !headerName.MatchString(name) {
			return nil, fmt.Errorf("headers: %q is not a valid header name", name)
		}
		for _, v := range vals {
			if secret != nil && secretRef.MatchString(v) {
				resolved, err := secret("headers "+name, v)
				if err != nil {
					return nil, fmt.Errorf("headers %s: %w", name, err)
				}
				v = resolved
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fmt.Errorf("headers %s: a value may not contain a line break", name)
			}
			out.Add(name, v)
		}
	}
	return out, nil
}

func (c *Config) bodyTemplate(baseDir string, remote bool) (*subst.Template, error) {
	switch {
	case c.BodyContent != "" && c.BodyFile != "":
		return nil, errors.New("body-content and body-file are exclusive")
	case c.BodyContent != "":
		return subst.Compile(c.BodyContent), nil
	case c.BodyFile != "" && remote && filepath.IsAbs(c.BodyFile):
		return nil, nil // read on the runner it runs on, not here
	case c.BodyFile != "":
		path := c.BodyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("body-file: %w", err)
		}
		return subst.Compile(string(b)), nil
	}
	return nil, nil
}
