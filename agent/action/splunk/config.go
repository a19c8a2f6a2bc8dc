package splunk

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// defaultSizeLimit is Postee's default maximum event size, in bytes.
const defaultSizeLimit = 10000

// Config is a Postee `type: splunk` action (HTTP Event Collector).
type Config struct {
	// URL is the collector's base URL (e.g. https://splunk:8088); the
	// /services/collector path is added unless it is already there.
	URL string `yaml:"url"`
	// Token is the HEC token. Secret.
	Token string `yaml:"token"`
	// SizeLimit is the largest event sent, in bytes.
	SizeLimit int `yaml:"size-limit"`
}

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("splunk action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail("url must be the absolute http(s) URL of the HTTP Event Collector")
	}
	if !strings.Contains(u.Path, "/services/collector") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/services/collector"
	}
	c.URL = u.String()
	if c.Token == "" {
		return fail("token is required")
	}
	if c.Token, err = spec.Secret("token", c.Token); err != nil {
		return fail("token: %w", err)
	}
	if c.SizeLimit < 0 {
		return fail("size-limit must not be negative")
	}
	if c.SizeLimit == 0 {
		c.SizeLimit = defaultSizeLimit
	}
	return nil
}
