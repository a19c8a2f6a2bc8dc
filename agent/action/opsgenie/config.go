package opsgenie

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// DefaultURL is Opsgenie's API; EU accounts use https://api.eu.opsgenie.com.
const DefaultURL = "https://api.opsgenie.com"

// Config is a Postee `type: opsgenie` action.
type Config struct {
	// Token is the API key of an Opsgenie API integration. Secret.
	Token string `yaml:"token"`
	// User is the display name of the request owner.
	User string `yaml:"user"`
	// Assignee lists users the alert is routed to (responders).
	Assignee []string `yaml:"assignee"`
	// Recipients lists users the alert is visible to, without notification.
	Recipients []string `yaml:"recipients"`
	Priority   string   `yaml:"priority"`
	Tags       []string `yaml:"tags"`
	Alias      string   `yaml:"alias"`
	Entity     string   `yaml:"entity"`
	// URL overrides the API base (ours; for the EU region, proxies, tests).
	URL string `yaml:"url"`
}

var priorities = []string{"P1", "P2", "P3", "P4", "P5"}

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("opsgenie action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if c.Token == "" {
		return fail("token is required")
	}
	t, err := spec.Secret("token", c.Token)
	if err != nil {
		return fail("token: %w", err)
	}
	c.Token = t
	if c.Priority == "" {
		c.Priority = "P3"
	}
	if !slices.Contains(priorities, c.Priority) {
		return fail("priority %q is not one of %s", c.Priority, strings.Join(priorities, ", "))
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail("url must be an absolute http(s) URL")
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	return nil
}
