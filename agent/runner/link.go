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
// heartbeats, job results, config requests and pushes. It exists from New
// on; dial connects it.
type link struct {
	name string
	log  *slog.Logger
	deps linkDeps
	s    Settings
	nc   *nats.Conn // set by dial, before anything runs on it
	js   jetstream.JetStream
}

// linkDeps are what the link needs besides the settings.
type linkDeps struct {
	Logger *slog.Logger
	// Up is called (in its own goroutine) each time the connection comes
	// up: send the backlog, fetch the config.
	Up func()
	// Slice receives every config push.
	Slice func(data []byte)
	// Status is what a heartbeat reports.
	Status func() transport.Status
	// Heartbeat, SliceGet, Request and Flush are the Timings of the same
	// names.
	Heartbeat, SliceGet, Request, Flush time.Duration
}

func newLink(s Settings, d linkDeps) *link {
	return &link{name: s.Name, log: d.Logger, deps: d, s: s}
}

var _ part = (*link)(nil)

// dial connects to the controller. It does not wait for it: while it is
// unreachable the connection keeps retrying and the runner works from its
// cache and spool.
func (l *link) dial(ctx context.Context) error {
	s, d := l.s, l.deps
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
		return err
	}
	js, err := jetstream.NewWithAPIPrefix(nc, transport.JSAPIPrefix)
	if err != nil {
		nc.Close()
		return err
	}
	l.nc, l.js = nc, js
	if _, err := nc.Subscribe(transport.CfgPush(s.Name), func(m *nats.Msg) { d.Slice(m.Data) }); err != nil {
		nc.Close()
		return err
	}
	if nc.IsConnected() {
		up(nc)
	}
	return nil
}

func (l *link) connected() bool { return l != nil && l.nc != nil && l.nc.IsConnected() }

// fetchConfig reads the current slice (see SliceFetch); nothing while the
// controller is unreachable.
func (l *link) fetchConfig(ctx context.Context) ([]byte, error) {
	if !l.connected() {
		return nil, nil
	}
	return SliceFetch{Get: l.deps.SliceGet, Request: l.deps.Request}.Fetch(ctx, l.nc, l.name, l.log)
}

// Run sends the heartbeats until ctx is done.
func (l *link) Run(ctx context.Context) {
	SendHeartbeats(ctx, l.nc, l.name, l.deps.Heartbeat, l.deps.Status)
}

// fits refuses (transport.ErrTooLarge) a message of size bytes the
// controller's server could never take.
func (l *link) fits(size int) error {
	if l.nc == nil {
		return nil // not dialled: no limit known
	}
	return transport.Fits(l.nc, size)
}

// publishStatus sends a heartbeat now (none before dial).
func (l *link) publishStatus(st transport.Status) {
	if l.nc != nil {
		SendStatus(l.nc, l.name, st)
	}
}

// report tells the controller how a job ended.
func (l *link) report(o transport.Outcome) { SendOutcome(l.nc, l.name, o) }

// close flushes what was published (results, the last heartbeat) and
// closes the connection.
func (l *link) close() {
	if !l.nc.IsConnected() {
		l.nc.Close() // a drain would wait for a reconnect until its timeout
		return
	}
	_ = l.nc.FlushTimeout(l.deps.Flush)
	if err := l.nc.Drain(); err != nil {
		l.log.Debug("connection drain", logx.Err(err))
	}
}
