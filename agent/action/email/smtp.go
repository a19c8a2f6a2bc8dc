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
)

// defaultTimeout bounds one delivery when the caller's context has no deadline.
const defaultTimeout = 30 * time.Second

// server is where one delivery goes and how to talk to it.
type server struct {
	host     string
	port     int
	helo     string
	auth     smtp.Auth // nil: no authentication
	rootCAs  *x509.CertPool
	implicit bool // TLS from the first byte (port 465) instead of STARTTLS
}

// deliver sends msg to rcpts through srv. STARTTLS is used whenever the
// server offers it, with certificate verification on.
func deliver(ctx context.Context, srv server, from string, rcpts []string, msg []byte) error {
	conn, err := dial(ctx, srv)
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(conn, srv.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(srv.helo); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if err := secure(c, srv); err != nil {
		return err
	}
	if err := transaction(c, from, rcpts, msg); err != nil {
		return err
	}
	return c.Quit()
}

func dial(ctx context.Context, srv server) (net.Conn, error) {
	addr := net.JoinHostPort(srv.host, strconv.Itoa(srv.port))
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	d := &net.Dialer{Deadline: deadline}
	var conn net.Conn
	var err error
	if srv.implicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsConfig(srv)}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	conn.SetDeadline(deadline)
	// A cancelled context must interrupt a conversation blocked on the server.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	return &stopConn{Conn: conn, stop: stop}, nil
}

type stopConn struct {
	net.Conn
	stop func() bool
}

func (c *stopConn) Close() error { c.stop(); return c.Conn.Close() }

func tlsConfig(srv server) *tls.Config {
	return &tls.Config{ServerName: srv.host, RootCAs: srv.rootCAs, MinVersion: tls.VersionTLS12}
}

func secure(c *smtp.Client, srv server) error {
	if ok, _ := c.Extension("STARTTLS"); ok && !srv.implicit {
		if err := c.StartTLS(tlsConfig(srv)); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if srv.auth == nil {
		return nil
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return fmt.Errorf("server offers no AUTH but user and password are set: %w", errPermanent)
	}
	if err := c.Auth(srv.auth); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

func transaction(c *smtp.Client, from string, rcpts []string, msg []byte) error {
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("rcpt to %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

var errPermanent = errors.New("permanent")

// retryable says whether a failed delivery may succeed later: SMTP 4xx
// replies and network trouble yes; 5xx replies, refused certificates and
// configuration problems no.
func retryable(err error) bool {
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		return tpe.Code >= 400 && tpe.Code < 500
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, errPermanent), errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return false
	case errors.Is(err, context.Canceled):
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}
