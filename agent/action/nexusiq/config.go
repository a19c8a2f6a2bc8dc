package nexusiq

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action/httpx"
	"github.com/postee-fleet/posteed/agent/config"
)

// Config holds the Postee keys of a nexusIq action.
type Config struct {
	// URL is the Nexus IQ server's base URL.
	URL  string `yaml:"url"`
	User string `yaml:"user"`
	// Password may be a secret reference ($NAME or file:PATH).
	Password       string          `yaml:"password"`
	OrganizationID string          `yaml:"organization-id"`
	Timeout        config.Duration `yaml:"timeout"`
}

var secretRef = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]*|file:.+)$`)

// validate resolves secrets and checks the required keys. The password never
// appears in an error.
func (c *Config) validate(secret func(field, value string) (string, error)) error {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(2 * httpx.DefaultTimeout)
	}
	for _, f := range []struct {
		key string
		v   *string
	}{{"url", &c.URL}, {"user", &c.User}, {"password", &c.Password}, {"organization-id", &c.OrganizationID}} {
		*f.v = strings.TrimSpace(*f.v)
		if *f.v == "" {
			return fmt.Errorf("%s is required", f.key)
		}
		if secret != nil && secretRef.MatchString(*f.v) {
			v, err := secret(f.key, *f.v)
			if err != nil {
				return fmt.Errorf("%s: %w", f.key, err)
			}
			*f.v = v
		}
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
