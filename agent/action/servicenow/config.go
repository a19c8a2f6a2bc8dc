package servicenow

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// defaultTable is where Postee opens records unless `board` says otherwise.
const defaultTable = "incident"

// Config is a Postee `type: serviceNow` action.
type Config struct {
	User     string        `yaml:"user"`
	Password config.Secret `yaml:"password"`
	// Instance is the XXX in XXX.service-now.com.
	Instance string `yaml:"instance"`
	// Board is the table records are inserted into.
	Board string `yaml:"board"`
	// URL overrides https://<instance>.service-now.com (ours; for custom
	// domains, proxies and tests).
	URL config.URL `yaml:"url"`

	base string // the instance's URL without a trailing slash
	auth string // Authorization header: a secret
}

var instanceName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)
var tableName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("serviceNow action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if c.User == "" || !c.Password.Set() {
		return fail("user and password are required")
	}
	c.auth = c.Password.BasicAuth(c.User)
	if c.Board == "" {
		c.Board = defaultTable
	}
	if !tableName.MatchString(c.Board) {
		return fail("board %q is not a table name", c.Board)
	}
	return c.resolveURL(fail)
}

func (c *Config) resolveURL(fail func(string, ...any) error) error {
	if !c.URL.Set() && !instanceName.MatchString(c.Instance) {
		return fail("instance is required: the XXX in XXX.service-now.com")
	}
	c.base = strings.TrimSuffix(c.URL.Or("https://"+c.Instance+".service-now.com"), "/")
	return nil
}
