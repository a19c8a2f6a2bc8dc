package webhook

import (
	"errors"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a webhook action.
type Config struct {
	// URL may hold a token, so it is a secret; a reference ($NAME,
	// ${NAME}, file:PATH) works.
	URL     config.SecretURL `yaml:"url"`
	Timeout config.Duration  `yaml:"timeout"`
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
}

func (c *Config) check() error {
	if !c.URL.Set() {
		return errors.New("url is required")
	}
	return nil
}
