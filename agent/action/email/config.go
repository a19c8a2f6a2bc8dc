package email

import (
	"fmt"
	"net/mail"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// ownerPlaceholder is Postee's recipient that stands for the Aqua
// application scope owners named in the event.
const ownerPlaceholder = "<%application_scope_owner%>"

// Config is a Postee `type: email` action.
type Config struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`
	User     string        `yaml:"user"`
	Password config.Secret `yaml:"password"`
	// Sender defaults to User, as in Postee.
	Sender     string   `yaml:"sender"`
	Recipients []string `yaml:"recipients"`
	// UseMX delivers straight to each recipient domain's MX hosts instead of
	// through Host; no authentication is used then.
	UseMX bool `yaml:"use-mx"`
	// ClientHostName is the name announced in EHLO (default "localhost").
	ClientHostName string `yaml:"client-host-name"`
}

func (c *Config) validate(spec action.Spec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("email action %q: "+format, append([]any{spec.Name}, a...)...)
	}
	if c.Sender == "" {
		c.Sender = c.User
	}
	if c.Sender == "" {
		return fail("sender is required (or user, which it defaults to)")
	}
	if _, err := mail.ParseAddress(c.Sender); err != nil {
		return fail("sender %q is not an email address", c.Sender)
	}
	if len(c.Recipients) == 0 {
		return fail("recipients is required")
	}
	for _, r := range c.Recipients {
		if _, err := mail.ParseAddress(r); err != nil && r != ownerPlaceholder {
			return fail("recipient %q is not an email address", r)
		}
	}
	return c.validateServer(fail)
}

func (c *Config) validateServer(fail func(string, ...any) error) error {
	if c.Port < 0 || c.Port > 65535 {
		return fail("port %d is out of range", c.Port)
	}
	if c.UseMX {
		if c.Port == 0 {
			c.Port = 25
		}
		return nil
	}
	if c.Host == "" {
		return fail("host is required unless use-mx is true")
	}
	if c.Port == 0 {
		return fail("port is required (e.g. 587)")
	}
	if c.Password.Set() && c.User == "" {
		return fail("password is set but user is not")
	}
	return nil
}
