package teams

import (
	"fmt"
	"net/url"

	"github.com/postee-fleet/posteed/agent/action"
)

// Config is a Postee `type: teams` (Office 365 connector) or
// `type: teamsworkflows` (Power Automate workflow) action.
type Config struct {
	// URL is the webhook URL; it embeds the key, so it is a secret.
	URL string `yaml:"url"`
}

func (c *Config) resolve(spec action.Spec) error {
	if c.URL == "" {
		return fmt.Errorf("%s action %q: url is required", spec.Type, spec.Name)
	}
	u, err := spec.Secret("url", c.URL)
	if err != nil {
		return fmt.Errorf("%s action %q: url: %w", spec.Type, spec.Name, err)
	}
	if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		// The value is a secret: say what is wrong, never what it is.
		return fmt.Errorf("%s action %q: url must be an absolute http(s) URL", spec.Type, spec.Name)
	}
	c.URL = u
	return nil
}
