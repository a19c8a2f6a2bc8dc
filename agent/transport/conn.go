package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
)

// Reconnect backoff: doubling from reconnectMin up to reconnectMax, each
// delay jittered by ±25% so a fleet does not reconnect in lock-step after a
// controller restart.
const (
	reconnectMin = 250 * time.Millisecond
	reconnectMax = 30 * time.Second
)

// ConnOptions configure a runner's connection to the controller.
type ConnOptions struct {
	URL  string // e.g. tls://controller.example:4222
	Name string // the runner's name; must match its certificate's CN
	// CertFile, KeyFile: the runner's client certificate; CAFile: the CA
	// that signed the controller's certificate. Relative paths resolve
	// through ResolveCredential.
	CertFile, KeyFile, CAFile string
	// NKeySeedFile is an optional nkey seed, the alternative identity.
	NKeySeedFile string
	Logger       *slog.Logger
}

// Connect dials the controller. Server verification is always on. It does
// not wait for the server: while it is unreachable the connection keeps
// retrying forever and publishes are buffered by nats.go. ctx only cancels
// the set-up. extra options are applied last (tests use them for handlers).
func Connect(ctx context.Context, o ConnOptions, extra ...nats.Option) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ValidName(o.Name); err != nil {
		return nil, err
	}
	if o.URL == "" {
		return nil, errors.New("controller url is not set")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("runner", o.Name)
	opts, err := connOptions(o, log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(o.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to controller: %w", err)
	}
	return nc, nil
}

func connOptions(o ConnOptions, log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.CustomInboxPrefix(InboxPrefix(o.Name)),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff),
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("connected to controller", "url", nc.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from controller", logx.Err(err)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to controller", "url", nc.ConnectedUrlRedacted()) }),
		// Without this a refused certificate would retry silently forever.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("controller unreachable", logx.Err(err)) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) { logAsyncErr(log, sub, err) }),
		nats.ClosedHandler(func(*nats.Conn) { log.Info("controller connection closed") }),
	}
	if o.CertFile != "" || o.KeyFile != "" || o.CAFile != "" {
		cfg, err := TLSConfig(o.CertFile, o.KeyFile, o.CAFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(cfg))
	}
	if o.NKeySeedFile != "" {
		nk, err := nats.NkeyOptionFromSeed(ResolveCredential(o.NKeySeedFile))
		if err != nil {
			return nil, fmt.Errorf("runner nkey: %w", err)
		}
		opts = append(opts, nk)
	}
	return opts, nil
}

func logAsyncErr(log *slog.Logger, sub *nats.Subscription, err error) {
	if sub != nil {
		log.Error("nats error", "subject", sub.Subject, logx.Err(err))
		return
	}
	log.Error("nats error", logx.Err(err))
}

// TLSConfig loads the runner's client certificate (optional: a runner may
// use an nkey instead) and the CA that must have signed the server's
// certificate. The CA is required: the controller is always verified.
func TLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("tls: ca file is required to verify the controller")
	}
	caPEM, err := os.ReadFile(ResolveCredential(caFile))
	if err != nil {
		return nil, fmt.Errorf("tls: read ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("tls: no certificate in ca file %s", caFile)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if certFile == "" && keyFile == "" {
		return cfg, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: client certificate and key must both be set")
	}
	cert, err := tls.LoadX509KeyPair(ResolveCredential(certFile), ResolveCredential(keyFile))
	if err != nil {
		return nil, fmt.Errorf("tls: load client certificate: %w", err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

// ResolveCredential makes a relative path relative to
// $CREDENTIALS_DIRECTORY, where systemd's LoadCredential= puts files, when
// that variable is set. Absolute paths and the empty path are unchanged.
func ResolveCredential(path string) string {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if path == "" || dir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func backoff(attempts int) time.Duration {
	d := reconnectMax
	if attempts < 20 {
		d = min(reconnectMin<<attempts, reconnectMax)
	}
	jitter := time.Duration(rand.Int64N(int64(d)/2)) - d/4
	return d + jitter
}
