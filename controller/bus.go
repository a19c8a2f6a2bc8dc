package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/jsstate"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// bus is the controller's link to NATS, in the fleet's account: the
// embedded server (the default), or an existing cluster shared with other
// controllers (external mode). Everything above it is the same in both.
type bus struct {
	srv     *natsd.Server // nil in external mode
	servers []string      // the cluster's, in external mode
	nc      *nats.Conn
	js      jetstream.JetStream
	state   *jsstate.State
	// id names this controller process in the fleet's state (seals of held
	// batches, the registry's writer).
	id string
}

// openBus starts the embedded server or connects to the cluster, and
// creates the streams and buckets. onRunner hears each runner the embedded
// server admits, with the hosts its certificate names (in external mode
// the auth callout does, see callout.go).
func openBus(ctx context.Context, s Settings, tm Timings, id string, log *slog.Logger, onRunner func(string, []string)) (*bus, error) {
	b := &bus{id: id}
	var err error
	log = log.With("component", "nats")
	if s.External() {
		b.servers = s.Servers()
		b.nc, err = connectExternal(s, log)
	} else {
		b.srv, b.nc, err = startEmbedded(ctx, s, log, onRunner)
	}
	if err != nil {
		return nil, err
	}
	if b.js, err = jetstream.New(b.nc); err != nil {
		b.close()
		return nil, err
	}
	if err := b.prepare(ctx, s, tm, log); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// prepare creates the streams and buckets, trying again for a while when
// the servers do not answer (a cluster electing leaders, a busy meta
// leader): a controller started with its cluster, or while one server is
// down, waits for it rather than fail.
func (b *bus) prepare(ctx context.Context, s Settings, tm Timings, log *slog.Logger) error {
	err := retryJS(ctx, log, tm, func() error {
		err := natsd.EnsureStreams(ctx, b.js, s.streamLimits())
		if err == nil {
			b.state, err = jsstate.Open(ctx, b.js, jsstate.Options{Replicas: s.Replicas()})
		}
		return err
	})
	if err != nil && strings.Contains(err.Error(), "insufficient") {
		return fmt.Errorf("%w: JetStream cannot reserve the streams' and buckets' sizes; raise the servers' max_file_store (or give the state disk room), or lower work-max-bytes, upstream-max-bytes and events-max-bytes", err)
	}
	return err
}

// retryJS runs fn until it succeeds, fails for good, or tm.RetryFor
// passes: a cluster that lost a server or elects a leader answers
// JetStream API calls with timeouts for a while.
func retryJS(ctx context.Context, log *slog.Logger, tm Timings, fn func() error) error {
	deadline := time.Now().Add(tm.RetryFor)
	for wait := tm.RetryMin; ; wait = min(2*wait, tm.RetryMax) {
		err := fn()
		if err == nil || !retryable(err) || time.Now().After(deadline) {
			return err
		}
		log.Warn("JetStream not ready; trying again", "in", wait, logx.Err(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// retryable is a JetStream error that may pass by itself.
func retryable(err error) bool {
	msg := err.Error()
	if strings.Contains(msg, "insufficient") { // storage or resources: a setting, not a passing state
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || strings.Contains(msg, "no suitable peers") ||
		strings.Contains(msg, "temporarily unavailable")
}

func startEmbedded(ctx context.Context, s Settings, log *slog.Logger, onRunner func(string, []string)) (*natsd.Server, *nats.Conn, error) {
	listen, err := listenAddr(s.ControllerURL)
	if err != nil {
		return nil, nil, err
	}
	shared, err := s.sharedNKey()
	if err != nil {
		return nil, nil, err
	}
	srv, err := natsd.Start(ctx, natsd.Options{
		Listen: listen, StoreDir: filepath.Join(s.StateDir, "jetstream"),
		CertFile: s.ControllerTLSCert, KeyFile: s.ControllerTLSKey, CAFile: s.ControllerCARoot,
		RunnerNKeys: s.RunnerNKeys, SharedNKey: shared,
		InsecureNoAuth: s.InsecureNoAuth, Logger: log, OnRunner: onRunner,
		MaxPayload: maxPayload(s.BodyLimit),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded nats: %w", err)
	}
	nc, err := srv.ConnectController()
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	return srv, nc, nil
}

// connectExternal joins the cluster as a controller: its client
// certificate (the servers verify every client's) and the controllers' own
// nkey user, which the auth callout lets through (see nats-config).
func connectExternal(s Settings, log *slog.Logger) (*nats.Conn, error) {
	servers := s.Servers()
	for _, u := range servers {
		if !strings.HasPrefix(u, "tls://") {
			return nil, fmt.Errorf("nats-servers: %q: use tls://HOST:PORT (every client is verified by its certificate)", u)
		}
	}
	cert, key, ca := s.natsTLS()
	if cert == "" || key == "" || ca == "" {
		return nil, errors.New("nats-servers needs a client certificate: nats-tls-cert, nats-tls-key and nats-ca-root (default: controller-tls-cert, controller-tls-key, controller-ca-root)")
	}
	tlsCfg, err := transport.TLSConfig(cert, key, ca)
	if err != nil {
		return nil, fmt.Errorf("nats tls: %w", err)
	}
	seed, err := s.natsSeed(s.NATSUserSeed)
	if err != nil {
		return nil, fmt.Errorf("nats-user-seed: %w", err)
	}
	nk, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("nats-user-seed: %w", err)
	}
	nc, err := nats.Connect(strings.Join(servers, ","), nats.Secure(tlsCfg), nk,
		nats.Name(transport.ControllerUser), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from the NATS servers", logx.Err(err)) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to the NATS servers", "url", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("NATS servers unreachable", logx.Err(err)) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error("nats error", logx.Err(err)) }))
	if err != nil {
		return nil, fmt.Errorf("connect to nats-servers: %w", err)
	}
	return nc, nil
}

// clientURL is where runners connect.
func (b *bus) clientURL() string {
	if b.srv != nil {
		return b.srv.ClientURL()
	}
	return strings.Join(b.servers, ",")
}

// connect opens another connection in the fleet's account (tools, tests).
func (b *bus) connect(opts ...nats.Option) (*nats.Conn, error) {
	if b.srv == nil {
		return nil, errors.New("external mode: connect with the controllers' credentials")
	}
	return b.srv.ConnectController(opts...)
}

func (b *bus) close() {
	if b.nc != nil {
		_ = b.nc.Drain()
	}
	if b.srv != nil {
		b.srv.Shutdown()
	}
}
