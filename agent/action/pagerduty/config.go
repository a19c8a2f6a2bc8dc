package pagerduty

import (
	"fmt"
	"net/url"

	"github.com/postee-fleet/posteed/agent/action"
)

// DefaultURL is PagerDuty's Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Config is a Postee `type: pagerduty` action.
type Config struct {
	// RoutingKey is the Events API v2 integration key of the service. Secret.
	RoutingKey string `yaml:"pagerduty-routing-key"`
	// AuthToken is accepted because Postee requires it, but the Events API
	// does not use it, so it is neither resolved nor sent.
	AuthToken string `yaml:"pagerduty-auth-token"`
	// URL overrides the Events API endpoint (ours; for proxies and tests).
	URL string `yaml:"url"`
}

func (c *Config) resolve(spec action.Spec) error {
	if c.RoutingKey == "" {
		return fmt.Errorf("pagerduty action %q: pagerduty-routing-key is required", spec.Name)
	}
	k, err := spec.Secret("pagerduty-routing-key", c.RoutingKey)
	if err != nil {
		return fmt.Errorf("pagerduty action %q: pagerduty-routing-key: %w", spec.Name, err)
	}
	c.RoutingKey = k
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("pagerduty action %q: url must be an absolute http(s) URL", spec.Name)
	}
	return nil
}
