// Package email sends Postee `type: email` actions over SMTP with the
// standard library (net/smtp, mime): AUTH PLAIN, LOGIN (which Microsoft 365
// wants) or XOAUTH2, a STARTTLS policy, certificate verification always
// on, and multipart/alternative messages (text and the template's HTML).
// It does without a mail library to keep the runner's memory small.
package email

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

func init() { action.Register("email", New) }

var _ action.Action = (*Email)(nil)

// Email delivers messages through one SMTP server or the recipients' MX hosts.
type Email struct {
	name     string
	cfg      Config // holds the password: a secret
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
	var err error
	if e.cfg.UseMX {
		err = e.sendMX(ctx, rcpts, m)
	} else {
		err = e.deliver(ctx, e.relay(), rcpts, m)
	}
	if err != nil {
		return retryable(err), fmt.Errorf("email action %q: %w", e.name, err)
	}
	e.log.Debug("email sent", "recipients", len(rcpts))
	return false, nil
}

// relay is the configured SMTP server.
func (e *Email) relay() server {
	srv := server{
		host: e.cfg.Host, port: e.cfg.Port, helo: e.cfg.ClientHostName, rootCAs: e.rootCAs,
		implicit: e.cfg.Port == 465, starttls: e.cfg.StartTLS,
	}
	if e.cfg.User != "" && e.cfg.Password.Set() {
		srv.auth, srv.user, srv.password = e.cfg.Auth, e.cfg.User, e.cfg.Password.Value()
	}
	return srv
}

// deliver builds the message and sends it through srv.
func (e *Email) deliver(ctx context.Context, srv server, rcpts []string, m action.Message) error {
	msg, err := compose(e.cfg.Sender, rcpts, m, e.now())
	if err != nil {
		return err
	}
	return deliver(ctx, srv, msg)
}
