package runner

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
)

// link is the runner's connection to the controller: the NATS connection
// with its JetStream context, and what flows on it outside JetStream:
// heartbeats, job results, config requests and pushes.
type link struct {
	name string
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
}

// linkDeps are what dial needs besides the settings.
type linkDeps struct {
	Logger *slog.Logger
	// Up is called (in its own goroutine) each time the connection comes
	// up: send the backlog, fetch the config.
	Up func()
	// Slice receives every config push.
	Slice func(data []byte)
}

// dial connects to the controller. It does not wait for it: while it is
// unreachable the connection keeps retrying and the runner works from its
// cache and spool.
func dial(ctx context.Context, s Settings, d linkDeps) (*link, error) {
	l := &link{name: s.Name, log: d.Logger}
	// The handlers can fire before Connect returns, before l.nc is set;
	// what they start waits until dial is done.
	set := make(chan struct{})
	defer close(set)
	up := func(*nats.Conn) { go func() { <-set; d.Up() }() }
	nc, err := transport.Connect(ctx, transport.ConnOptions{
		URL: s.ControllerURL, Name: s.Name, CertFile: s.TLSCert, KeyFile: s.TLSKey, CAFile: s.CARoot,
		NKeySeedFile: s.NKeySeed, Logger: d.Logger,
	}, nats.ConnectHandler(up), nats.ReconnectHandler(up))
	if err != nil {
		return nil, err
	}
	l.nc = nc
	if l.js, err = jetstream.NewWithAPIPrefix(nc, transport.JSAPIPrefix); err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := nc.Subscribe(transport.CfgPush(s.Name), func(m *nats.Msg) { d.Slice(m.Data) }); err != nil {
		nc.Close()
		return nil, err
	}
	if nc.IsConnected() {
		up(nc)
	}
	return l, nil
}

func (l *link) connected() bool { return l != nil && l.nc.IsConnected() }

// fetchConfig reads the current slice (see FetchSlice).
func (l *link) fetchConfig(ctx context.Context) ([]byte, error) {
	return FetchSlice(ctx, l.nc, l.name, l.log)
}

// heartbeat publishes status() every interval until ctx is done.
func (l *link) heartbeat(ctx context.Context, every time.Duration, status func() transport.Status) {
	SendHeartbeats(ctx, l.nc, l.name, every, status)
}

func (l *link) publishStatus(st transport.Status) { SendStatus(l.nc, l.name, st) }

// report tells the controller how a job ended.
func (l *link) report(o transport.Outcome) { SendOutcome(l.nc, l.name, o) }

// close flushes what was published (results, the last heartbeat) and
// closes the connection.
func (l *link) close() {
	if !l.nc.IsConnected() {
		l.nc.Close() // a drain would wait for a reconnect until its timeout
		return
	}
	_ = l.nc.FlushTimeout(2 * time.Second)
	if err := l.nc.Drain(); err != nil {
		l.log.Debug("connection drain", logx.Err(err))
	}
}
