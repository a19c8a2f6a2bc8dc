package slack

import (
	"fmt"
	"net/url"

	"github.com/postee-fleet/posteed/agent/action"
)

// Config is a Postee `type: slack` action.
type Config struct {
	// URL is the incoming-webhook URL; it embeds the access key, so it is a
	// secret ("$SLACK_URL" or "file:slack-url" work).
	URL string `yaml:"url"`
}

func (c *Config) resolve(spec action.Spec) error {
	if c.URL == "" {
		return fmt.Errorf("slack action %q: url is required", spec.Name)
	}
	u, err := spec.Secret("url", c.URL)
	if err != nil {
		return fmt.Errorf("slack action %q: url: %w", spec.Name, err)
	}
	if !validURL(u) {
		// The value is a secret: say what is wrong, never what it is.
		return fmt.Errorf("slack action %q: url must be an absolute http(s) URL", spec.Name)
	}
	c.URL = u
	return nil
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
