package awssecurityhub

import (
	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds an awssecurityhub action's keys. Postee had none: the region
// and credentials come from the standard AWS chain (AWS_REGION,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared
// files, web identity, ECS or EC2 instance roles).
type Config struct {
	// Region overrides the chain's region (ours).
	Region string `yaml:"region"`
	// Endpoint overrides Security Hub's endpoint (ours; VPC endpoints,
	// proxies, tests).
	Endpoint config.URL `yaml:"endpoint"`
	// Timeout bounds one import call (ours).
	Timeout config.Duration `yaml:"timeout"`
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
}
