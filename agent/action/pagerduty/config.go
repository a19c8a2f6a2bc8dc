package pagerduty

import (
	"fmt"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// DefaultURL is PagerDuty's Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Config is a Postee `type: pagerduty` action.
type Config struct {
	// RoutingKey is the Events API v2 integration key of the service.
	RoutingKey config.Secret `yaml:"pagerduty-routing-key"`
	// Postee's pagerduty-auth-token is not decoded: the Events API does
	// not use it, and the loader accepts it with a warning
	// (config.posteeTypeKeys).
	// URL overrides the Events API endpoint (ours; for proxies and tests).
	URL config.URL `yaml:"url"`

	endpoint string
}

func (c *Config) resolve(spec action.Spec) error {
	if !c.RoutingKey.Set() {
		return fmt.Errorf("pagerduty action %q: pagerduty-routing-key is required", spec.Name)
	}
	c.endpoint = c.URL.Or(DefaultURL)
	return nil
}
