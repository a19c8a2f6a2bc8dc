package slack

import (
	"fmt"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config is a Postee `type: slack` action.
type Config struct {
	// URL is the incoming-webhook URL; it embeds the access key, so it is a
	// secret ("$SLACK_URL", "${SLACK_URL}" or "file:slack-url" work).
	URL config.SecretURL `yaml:"url"`
}

func (c *Config) check(spec action.Spec) error {
	if !c.URL.Set() {
		return fmt.Errorf("slack action %q: url is required", spec.Name)
	}
	return nil
}
