package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a webhook action.
type Config struct {
	// URL may be a secret reference ($NAME or file:PATH).
	URL     string          `yaml:"url"`
	Timeout config.Duration `yaml:"timeout"`
}

var secretRef = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]*|file:.+)$`)

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(httpx.DefaultTimeout)
	}
}

// resolveURL checks the URL without ever putting it in an error: it may
// carry a token.
func (c *Config) resolveURL(secret func(field, value string) (string, error)) (string, error) {
	raw := strings.TrimSpace(c.URL)
	if raw == "" {
		return "", errors.New("url is required")
	}
	if secret != nil && secretRef.MatchString(raw) {
		v, err := secret("url", raw)
		if err != nil {
			return "", fmt.Errorf("url: %w", err)
		}
		raw = v
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("url must be an absolute http:// or https:// URL")
	}
	return u.String(), nil
}
