package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"time"

	mail "github.com/wneessen/go-mail"
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

var authTypes = map[string]mail.SMTPAuthType{
	"plain": mail.SMTPAuthPlain, "login": mail.SMTPAuthLogin, "xoauth2": mail.SMTPAuthXOAUTH2,
}

var tlsPolicies = map[string]mail.TLSPolicy{
	"": mail.TLSOpportunistic, "opportunistic": mail.TLSOpportunistic, "mandatory": mail.TLSMandatory, "none": mail.NoTLS,
}

// deliver sends msg through srv. A cancelled context cuts the conversation
// short, even one blocked on the server.
func deliver(ctx context.Context, srv server, msg *mail.Msg) error {
	timeout := defaultTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	c, err := mail.NewClient(srv.host, append(srv.options(timeout),
		mail.WithDialContextFunc(srv.dialer(ctx, &stop)))...)
	if err != nil {
		return fmt.Errorf("smtp client: %w: %w", err, errPermanent)
	}
	return c.DialAndSendWithContext(ctx, msg)
}

func (srv server) options(timeout time.Duration) []mail.Option {
	policy := tlsPolicies[srv.starttls]
	if srv.implicit {
		policy = mail.NoTLS // the dialer speaks TLS already
	}
	opts := []mail.Option{
		mail.WithPort(srv.port), mail.WithHELO(srv.helo), mail.WithTimeout(timeout),
		mail.WithTLSPolicy(policy), mail.WithTLSConfig(srv.tlsConfig()),
	}
	switch srv.auth {
	case "":
	case "auto":
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin))
	default:
		opts = append(opts, mail.WithSMTPAuth(authTypes[srv.auth]))
	}
	if srv.auth != "" {
		opts = append(opts, mail.WithUsername(srv.user), mail.WithPassword(srv.password))
	}
	return opts
}

// dialer connects, with TLS from the first byte when srv says so; the
// connection is closed when ctx (the caller's, not the dial's) is done.
func (srv server) dialer(ctx context.Context, stop *func() bool) mail.DialContextFunc {
	return func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if srv.implicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: srv.tlsConfig()}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", addr, err)
		}
		*stop = context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
}

func (srv server) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: srv.host, RootCAs: srv.rootCAs, MinVersion: tls.VersionTLS12}
}

var errPermanent = errors.New("permanent")

// retryable says whether a failed delivery may succeed later: SMTP 4xx
// replies and network trouble yes; 5xx replies, refused certificates and
// configuration problems (no STARTTLS under a mandatory policy, no AUTH
// offered) no.
func retryable(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.IsTemp()
	}
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
