// Package email sends Postee `type: email` actions over SMTP, with STARTTLS
// whenever the server offers it and certificate verification always on.
package email

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

func init() { action.Register("email", New) }

var _ action.Action = (*Email)(nil)

// Email delivers messages through one SMTP server or the recipients' MX hosts.
type Email struct {
	name     string
	cfg      Config // Password resolved; a secret
	log      *slog.Logger
	now      func() time.Time
	lookupMX func(ctx context.Context, domain string) ([]*net.MX, error)
	rootCAs  *x509.CertPool // nil: the system roots; tests inject their own
}

// New builds an email action from its spec.
func New(spec action.Spec) (action.Action, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.validate(spec); err != nil {
		return nil, err
	}
	if c.ClientHostName == "" {
		c.ClientHostName = "localhost"
	}
	log := spec.Log()
	return &Email{name: spec.Name, cfg: c, log: log, now: time.Now, lookupMX: net.DefaultResolver.LookupMX}, nil
}

// Send delivers the message to every recipient.
func (e *Email) Send(ctx context.Context, m action.Message) (bool, error) {
	rcpts := recipients(e.cfg.Recipients, m)
	if len(rcpts) == 0 {
		return false, fmt.Errorf("email action %q: no recipients for this event", e.name)
	}
	msg := compose(e.cfg.Sender, rcpts, m, e.now())
	var err error
	if e.cfg.UseMX {
		err = e.sendMX(ctx, rcpts, msg)
	} else {
		err = deliver(ctx, e.relay(), e.cfg.Sender, rcpts, msg)
	}
	if err != nil {
		return retryable(err), fmt.Errorf("email action %q: %w", e.name, err)
	}
	e.log.Debug("email sent", "recipients", len(rcpts))
	return false, nil
}

// relay is the configured SMTP server.
func (e *Email) relay() server {
	srv := server{host: e.cfg.Host, port: e.cfg.Port, helo: e.cfg.ClientHostName, rootCAs: e.rootCAs, implicit: e.cfg.Port == 465}
	if e.cfg.User != "" && e.cfg.Password.Set() {
		// PlainAuth refuses to send the password over a connection that is
		// neither TLS nor to localhost.
		srv.auth = smtp.PlainAuth("", e.cfg.User, e.cfg.Password.Value(), e.cfg.Host)
	}
	return srv
}
