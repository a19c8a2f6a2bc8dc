package dependencytrack

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a dependencytrack action.
type Config struct {
	// URL is the Dependency-Track API server's base URL.
	URL string `yaml:"url"`
	// APIKey may be a secret reference ($NAME or file:PATH).
	APIKey  string          `yaml:"dependency-track-api-key"`
	Timeout config.Duration `yaml:"timeout"`
}

var secretRef = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]*|file:.+)$`)

// validate resolves the key and checks the URL; the key never appears in an
// error.
func (c *Config) validate(secret func(field, value string) (string, error)) error {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
	c.URL, c.APIKey = strings.TrimSpace(c.URL), strings.TrimSpace(c.APIKey)
	if c.URL == "" {
		return errors.New("url is required")
	}
	if c.APIKey == "" {
		return errors.New("dependency-track-api-key is required")
	}
	if secret != nil && secretRef.MatchString(c.APIKey) {
		v, err := secret("dependency-track-api-key", c.APIKey)
		if err != nil {
			return fmt.Errorf("dependency-track-api-key: %w", err)
		}
		c.APIKey = v
	}
	if strings.ContainsAny(c.APIKey, "\r\n\x00") {
		return errors.New("dependency-track-api-key may not contain a line break")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return errors.New("url must be an absolute http:// or https:// URL")
	}
	c.URL = strings.TrimRight(u.String(), "/")
	return nil
}
