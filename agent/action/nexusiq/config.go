package nexusiq

import (
	"fmt"
	"strings"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a nexusIq action.
type Config struct {
	// URL is the Nexus IQ server's base URL.
	URL            config.URL      `yaml:"url"`
	User           config.Text     `yaml:"user"`
	Password       config.Secret   `yaml:"password"`
	OrganizationID config.Text     `yaml:"organization-id"`
	Timeout        config.Duration `yaml:"timeout"`
}

// validate checks the required keys. The password never appears in an error.
func (c *Config) validate() error {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(2 * httpx.DefaultTimeout)
	}
	for _, f := range []struct {
		key string
		set bool
	}{{"url", c.URL.Set()}, {"user", c.User.Set()}, {"password", c.Password.Set()}, {"organization-id", c.OrganizationID.Set()}} {
		if !f.set {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	return nil
}

// base is the server's base URL without a trailing slash.
func (c *Config) base() string { return strings.TrimRight(c.URL.Value(), "/") }
