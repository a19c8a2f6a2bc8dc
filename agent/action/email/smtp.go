package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// defaultTimeout bounds one delivery when the caller's context has no deadline.
const defaultTimeout = 30 * time.Second

// server is where one delivery goes and how to talk to it.
type server struct {
	host     string
	port     int
	helo     string
	auth     string // "": no authentication; else a Config.Auth value
	user     string
	password string // a secret
	rootCAs  *x509.CertPool
	implicit bool   // TLS from the first byte (port 465) instead of STARTTLS
	starttls string // a Config.StartTLS value; "" is opportunistic
}

// deliver sends msg through srv before the context's deadline, else within
// defaultTimeout. A cancelled context closes the connection, which cuts
// short a conversation blocked on the server.
func deliver(ctx context.Context, srv server, msg *message) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	conn, stop, err := srv.dial(ctx, deadline)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer stop()
	return interrupted(ctx, srv.converse(conn, msg))
}

// dial connects before the deadline, with TLS from the first byte when srv
// says so. The connection is closed when ctx is done; stop undoes that.
func (srv server) dial(ctx context.Context, deadline time.Time) (net.Conn, func() bool, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	addr := net.JoinHostPort(srv.host, strconv.Itoa(srv.port))
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	raw.SetDeadline(deadline) // cannot fail on a fresh TCP connection
	if !srv.implicit {
		return raw, stop, nil
	}
	tc := tls.Client(raw, srv.tlsConfig())
	if err := tc.HandshakeContext(dctx); err != nil {
		stop()
		raw.Close()
		return nil, nil, fmt.Errorf("tls with %s: %w", addr, err)
	}
	return tc, stop, nil
}

// converse runs the SMTP conversation on conn and closes it. QUIT is sent
// only after the server took the message: on a failure the connection may
// be in any state, and closing it is enough.
func (srv server) converse(conn net.Conn, msg *message) error {
	c, err := smtp.NewClient(conn, srv.host) // closes conn on failure
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := srv.session(c, msg); err != nil {
		return err
	}
	c.Quit() // the message is accepted; how the goodbye goes changes nothing
	return nil
}

func (srv server) session(c *smtp.Client, msg *message) error {
	if err := c.Hello(srv.helo); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if err := srv.secure(c); err != nil {
		return err
	}
	if err := srv.authenticate(c); err != nil {
		return err
	}
	return transact(c, msg)
}

// secure applies the STARTTLS policy; implicit TLS needs none.
func (srv server) secure(c *smtp.Client) error {
	if srv.implicit || srv.starttls == "none" {
		return nil
	}
	if offered, _ := c.Extension("STARTTLS"); !offered {
		if srv.starttls == "mandatory" {
			return fmt.Errorf("starttls is mandatory but %s does not offer STARTTLS: %w", srv.host, action.ErrPermanent)
		}
		return nil
	}
	if err := c.StartTLS(srv.tlsConfig()); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	return nil
}

func (srv server) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: srv.host, RootCAs: srv.rootCAs, MinVersion: tls.VersionTLS12}
}

// interrupted marks err with the context's error when the context ended
// the delivery: a cancellation is then not retried, an expired deadline is.
func interrupted(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w: %w", ctx.Err(), err)
}

// retryable says whether a failed delivery may succeed later: SMTP 4xx
// replies yes, 5xx no; configuration problems (no STARTTLS under a
// mandatory policy, no AUTH offered) no; otherwise as for every network
// action (action.NetworkTransient): network trouble and a server that
// closed the connection yes, refused certificates and cancellation no.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		return tpe.Code >= 400 && tpe.Code < 500
	}
	if errors.Is(err, action.ErrPermanent) {
		return false
	}
	return action.NetworkTransient(err)
}
