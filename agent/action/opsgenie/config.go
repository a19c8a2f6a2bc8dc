package opsgenie

import (
	"fmt"
	"slices"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// DefaultURL is Opsgenie's API; EU accounts use https://api.eu.opsgenie.com.
const DefaultURL = "https://api.opsgenie.com"

// Config is a Postee `type: opsgenie` action.
type Config struct {
	// Token is the API key of an Opsgenie API integration.
	Token config.Secret `yaml:"token"`
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
	URL config.URL `yaml:"url"`

	base string // the API's URL without a trailing slash
}

var priorities = []string{"P1", "P2", "P3", "P4", "P5"}

func (c *Config) resolve(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("opsgenie action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if !c.Token.Set() {
		return fail("token is required")
	}
	if c.Priority == "" {
		c.Priority = "P3"
	}
	if !slices.Contains(priorities, c.Priority) {
		return fail("priority %q is not one of %s", c.Priority, strings.Join(priorities, ", "))
	}
	c.base = strings.TrimSuffix(c.URL.Or(DefaultURL), "/")
	return nil
}
