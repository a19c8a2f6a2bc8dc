// Package natsd runs the controller's embedded NATS server: JetStream for
// dispatch and upstream, TLS with one client certificate (or nkey) per
// runner, and for each runner exactly the subjects transport.PublishAllow and
// transport.SubscribeAllow name.
//
// The controller itself never connects over the network: it gets an
// in-process connection guarded by a secret that only this process knows.
package natsd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/agent/transport"
)

// DefaultListen is the NATS client port from the design.
const DefaultListen = "0.0.0.0:4222"

// readyTimeout bounds the wait for the listener and JetStream to come up.
const readyTimeout = 10 * time.Second

// Options configure Start.
type Options struct {
	// Listen is host:port; port -1 picks a random free port.
	Listen string
	// StoreDir holds the JetStream store (required).
	StoreDir string
	// CertFile and KeyFile turn TLS on. Relative paths resolve against
	// $CREDENTIALS_DIRECTORY (transport.ResolveCredential).
	CertFile, KeyFile string
	// CAFile makes a client certificate signed by this CA mandatory; its
	// common name is the runner's name.
	CAFile string
	// RunnerNKeys maps runner name to public user nkey, an alternative
	// identity to a client certificate. Needs TLS.
	RunnerNKeys map[string]string
	// SharedNKey is the public key of Postee's controller-seed-file: when
	// set every runner must sign with it (or with its own nkey); it names
	// no runner, so a runner signing with it needs its certificate too.
	SharedNKey string
	// OnRunner hears, in its own goroutine, each runner admitted and the
	// host names its verified certificate carries (DNS SANs): the hosts it
	// may act for (@origin). Optional.
	OnRunner func(name string, hosts []string)
	// InsecureNoAuth lets a runner claim any name as its NATS user name.
	// Local demos only.
	InsecureNoAuth bool
	// MaxPayload is the largest message, in bytes (nats-server's default,
	// 1 MiB, when 0). Jobs carry the event and its rendered message, so the
	// controller sizes it from its body limit.
	MaxPayload int32
	// ServerName names the server in logs and monitoring; optional.
	ServerName string
	Logger     *slog.Logger
}

// Server is a running embedded NATS server.
type Server struct {
	ns     *server.Server
	secret string
	log    *slog.Logger
	stop   func() bool
}

// Start starts the server and returns once it accepts connections. It shuts
// down when ctx is done or Shutdown is called.
func Start(ctx context.Context, o Options) (*Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	so, err := serverOptions(o)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(o, so.TLSConfig != nil, secret, log)
	if err != nil {
		return nil, err
	}
	so.CustomClientAuthentication = auth
	so.AlwaysEnableNonce = len(o.RunnerNKeys) > 0 || o.SharedNKey != ""
	auth.warn()

	// An unusable store only shows up as a JetStream that never gets ready.
	if err := os.MkdirAll(so.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("jetstream store: %w", err)
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	if err := auth.placeIn(ns); err != nil {
		return nil, err
	}
	// No protocol tracing, whatever the log level: it would log every
	// message body, config slices and their secrets included.
	sl := newLogger(log)
	ns.SetLoggerV2(sl, log.Enabled(ctx, slog.LevelDebug), false, false)
	ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server not ready on %s after %s", so.Host+":"+strconv.Itoa(so.Port), readyTimeout)
	}
	// nats-server keeps running without JetStream when the store is
	// unusable; dispatch and upstream need it, so fail loudly instead.
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server: jetstream did not start (store %s)", so.StoreDir)
	}
	sl.started()
	s := &Server{ns: ns, secret: secret, log: log}
	s.stop = context.AfterFunc(ctx, s.shutdown)
	return s, nil
}

func serverOptions(o Options) (*server.Options, error) {
	if o.StoreDir == "" {
		return nil, errors.New("nats server: jetstream store directory is not set")
	}
	listen := o.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return nil, fmt.Errorf("nats listen address %q: bad port", listen)
	}
	so := &server.Options{}
	// The two accounts, as on a cluster (AccountsConf); users are placed in
	// them by the authenticator.
	if err := so.ProcessConfigString(AccountsConf()); err != nil {
		return nil, fmt.Errorf("nats server accounts: %w", err)
	}
	so.ServerName, so.Host, so.Port = o.ServerName, host, port
	so.JetStream, so.StoreDir, so.MaxPayload = true, o.StoreDir, o.MaxPayload
	so.NoSigs = true // the daemon owns signals (reload, stop) and the process lifecycle
	if err := configureTLS(so, o); err != nil {
		return nil, err
	}
	return so, nil
}

func configureTLS(so *server.Options, o Options) error {
	if o.CertFile == "" && o.KeyFile == "" {
		if o.CAFile != "" {
			return errors.New("nats tls: ca file given without certificate and key")
		}
		return nil
	}
	if o.CertFile == "" || o.KeyFile == "" {
		return errors.New("nats tls: certificate and key must both be set")
	}
	tc := &server.TLSConfigOpts{
		CertFile: transport.ResolveCredential(o.CertFile),
		KeyFile:  transport.ResolveCredential(o.KeyFile),
		Verify:   o.CAFile != "",
		Timeout:  2,
	}
	if o.CAFile != "" {
		tc.CaFile = transport.ResolveCredential(o.CAFile)
	}
	cfg, err := server.GenTLSConfig(tc)
	if err != nil {
		return fmt.Errorf("nats tls: %w", err)
	}
	so.TLSConfig = cfg
	so.TLSVerify = tc.Verify
	so.TLSTimeout = tc.Timeout
	return nil
}

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate controller secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ClientURL is the URL runners connect to (tls:// when TLS is on).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Addr is the bound listener address, nil once shut down.
func (s *Server) Addr() net.Addr { return s.ns.Addr() }

// NATS exposes the embedded server, e.g. for monitoring.
func (s *Server) NATS() *server.Server { return s.ns }

// ConnectController returns the controller's privileged connection. It is
// in-process (never on the network) and authenticated with a per-start
// secret, so no runner can obtain it. opts are applied after the defaults.
func (s *Server) ConnectController(opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.InProcessServer(s.ns),
		nats.UserInfo(transport.ControllerUser, s.secret),
		nats.Name(transport.ControllerUser),
	}
	nc, err := nats.Connect("", append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("controller connection: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it is down. Safe to call twice.
func (s *Server) Shutdown() {
	s.stop()
	s.shutdown()
}

func (s *Server) shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
