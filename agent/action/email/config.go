package email

import (
	"fmt"
	"net/mail"
	"slices"

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
	// Auth is the SMTP AUTH mechanism (ours): auto (PLAIN, else LOGIN, as
	// the server offers), plain, login, or xoauth2 (Password is then an
	// OAuth2 access token).
	Auth string `yaml:"auth"`
	// StartTLS is the STARTTLS policy (ours): opportunistic (when offered),
	// mandatory (refuse a server that does not offer it) or none. Port 465
	// speaks TLS from the first byte whatever it says.
	StartTLS string `yaml:"starttls"`
}

var (
	auths     = []string{"auto", "plain", "login", "xoauth2"}
	starttlss = []string{"opportunistic", "mandatory", "none"}
)

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
	if err := c.validateSecurity(fail); err != nil {
		return err
	}
	return c.validateServer(fail)
}

func (c *Config) validateSecurity(fail func(string, ...any) error) error {
	if c.Auth == "" {
		c.Auth = "auto"
	}
	if c.StartTLS == "" {
		c.StartTLS = "opportunistic"
	}
	if !slices.Contains(auths, c.Auth) {
		return fail("auth %q is not one of %v", c.Auth, auths)
	}
	if !slices.Contains(starttlss, c.StartTLS) {
		return fail("starttls %q is not one of %v", c.StartTLS, starttlss)
	}
	if c.Auth != "auto" && !c.Password.Set() {
		return fail("auth %s needs user and password", c.Auth)
	}
	if c.StartTLS == "none" && c.Password.Set() && c.Port != 465 && !localhost(c.Host) {
		return fail("starttls none would send the password in clear text; use opportunistic or mandatory")
	}
	return nil
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

func localhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
