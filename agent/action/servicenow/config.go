package servicenow

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// defaultTable is where Postee opens records unless `board` says otherwise.
const defaultTable = "incident"

// Config is a Postee `type: serviceNow` action.
type Config struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"` // secret
	// Instance is the XXX in XXX.service-now.com.
	Instance string `yaml:"instance"`
	// Board is the table records are inserted into.
	Board string `yaml:"board"`
	// URL overrides https://<instance>.service-now.com (ours; for custom
	// domains, proxies and tests).
	URL string `yaml:"url"`
}

var instanceName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)
var tableName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("serviceNow action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if c.User == "" || c.Password == "" {
		return fail("user and password are required")
	}
	p, err := spec.Secret("password", c.Password)
	if err != nil {
		return fail("password: %w", err)
	}
	c.Password = p
	if c.Board == "" {
		c.Board = defaultTable
	}
	if !tableName.MatchString(c.Board) {
		return fail("board %q is not a table name", c.Board)
	}
	return c.resolveURL(fail)
}

func (c *Config) resolveURL(fail func(string, ...any) error) error {
	if c.URL == "" {
		if !instanceName.MatchString(c.Instance) {
			return fail("instance is required: the XXX in XXX.service-now.com")
		}
		c.URL = "https://" + c.Instance + ".service-now.com"
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail("url must be an absolute http(s) URL")
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	return nil
}
