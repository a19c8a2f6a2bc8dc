package splunk

import (
	"fmt"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// defaultSizeLimit is Postee's default maximum event size, in bytes.
const defaultSizeLimit = 10000

// Config is a Postee `type: splunk` action (HTTP Event Collector).
type Config struct {
	// URL is the collector's base URL (e.g. https://splunk:8088); the
	// /services/collector path is added unless it is already there.
	URL config.URL `yaml:"url"`
	// Token is the HEC token.
	Token config.Secret `yaml:"token"`
	// SizeLimit is the largest event sent, in bytes.
	SizeLimit int `yaml:"size-limit"`

	endpoint string // URL with the collector path
}

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("splunk action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if !c.URL.Set() {
		return fail("url is required: the absolute http(s) URL of the HTTP Event Collector")
	}
	if u := c.URL.URL(); u != nil {
		if !strings.Contains(u.Path, "/services/collector") {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/services/collector"
		}
		c.endpoint = u.String()
	}
	if !c.Token.Set() {
		return fail("token is required")
	}
	if c.SizeLimit < 0 {
		return fail("size-limit must not be negative")
	}
	if c.SizeLimit == 0 {
		c.SizeLimit = defaultSizeLimit
	}
	return nil
}
