package dependencytrack

import (
	"errors"
	"strings"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a dependencytrack action.
type Config struct {
	// URL is the Dependency-Track API server's base URL.
	URL     config.URL      `yaml:"url"`
	APIKey  config.Secret   `yaml:"dependency-track-api-key"`
	Timeout config.Duration `yaml:"timeout"`
}

// validate checks the required keys; the key never appears in an error.
func (c *Config) validate() error {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
	if !c.URL.Set() {
		return errors.New("url is required")
	}
	if !c.APIKey.Set() {
		return errors.New("dependency-track-api-key is required")
	}
	if strings.ContainsAny(c.APIKey.Value(), "\r\n\x00") {
		return errors.New("dependency-track-api-key may not contain a line break")
	}
	return nil
}

// base is the API's base URL without a trailing slash.
func (c *Config) base() string { return strings.TrimRight(c.URL.Value(), "/") }
