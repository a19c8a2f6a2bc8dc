package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
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
	// URL may hold a token, so it is a secret; a reference ($NAME,
	// ${NAME}, file:PATH) works. Postee did not substitute event.input in
	// it, and neither do we.
	URL     config.SecretURL        `yaml:"url"`
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
// string. Each may be a reference ($NAME, ${NAME}, file:PATH).
type HeaderValues []config.Text

// UnmarshalYAML implements yaml.Unmarshaler.
func (h *HeaderValues) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var t config.Text
		if err := t.UnmarshalYAML(n); err != nil {
			return err
		}
		*h = HeaderValues{t}
		return nil
	}
	var list []config.Text
	if err := n.Decode(&list); err != nil {
		return err
	}
	*h = list
	return nil
}

// credentialHeader names the headers whose literal values are secrets too
// (a referenced value always is).
var credentialHeader = regexp.MustCompile(`(?i)^(authorization|proxy-authorization|cookie)$|token|key|secret|auth|passw|session|signature`)

var methods = map[string]bool{
	nethttp.MethodGet: true, nethttp.MethodHead: true, nethttp.MethodPost: true, nethttp.MethodPut: true,
	nethttp.MethodPatch: true, nethttp.MethodDelete: true, nethttp.MethodOptions: true,
}

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
	if !c.URL.Set() {
		return nil, errors.New("url is required")
	}
	headers, err := checkHeaders(c.Headers)
	if err != nil {
		return nil, err
	}
	body, err := c.bodyTemplate(spec.BaseDir, spec.Remote)
	if err != nil {
		return nil, err
	}
	h := &HTTP{
		name: spec.Name, url: c.URL.Value(), method: c.Method, headers: headers, body: body,
		client: httpx.NewClient(c.Timeout.D(), c.InsecureSkipVerify),
	}
	if body == nil && c.BodyFile != "" {
		h.remoteBody = c.BodyFile
	}
	return h, nil
}

func checkHeaders(in map[string]HeaderValues) (nethttp.Header, error) {
	out := nethttp.Header{}
	for name, vals := range in {
		if !headerName.MatchString(name) {
			return nil, fmt.Errorf("headers: %q is not a valid header name", name)
		}
		for _, v := range vals {
			if credentialHeader.MatchString(name) {
				v.Keep()
			}
			if strings.ContainsAny(v.Value(), "\r\n\x00") {
				return nil, fmt.Errorf("headers %s: a value may not contain a line break", name)
			}
			out.Add(name, v.Value())
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
