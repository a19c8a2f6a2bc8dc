package teams

import (
	"fmt"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config is a Postee `type: teams` (Office 365 connector) or
// `type: teamsworkflows` (Power Automate workflow) action.
type Config struct {
	// URL is the webhook URL; it embeds the key, so it is a secret.
	URL config.SecretURL `yaml:"url"`
}

func (c *Config) check(spec action.Spec) error {
	if !c.URL.Set() {
		return fmt.Errorf("%s action %q: url is required", spec.Type, spec.Name)
	}
	return nil
}
