// Package runner is the postee-runner daemon: it takes events locally
// (webhook, Tracee files), runs the actions placed on it, reports every event
// to the controller once, and executes work the controller dispatches. Its
// config slice comes from the controller and is cached on disk.
package runner

import (
	"context"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/intake/tracefile"
	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/sd"
	"github.com/postee-fleet/posteed/agent/transport"
)

// Options are the runner's dependencies.
type Options struct {
	Settings  Settings
	Logger    *slog.Logger
	Notifier  sd.StateNotifier
	Registry  *action.Registry
	Listeners map[string][]net.Listener
	Version   string
	Hostname  string // default os.Hostname
	MachineID string // default /etc/machine-id
}

// Runner is a running postee-runner.
type Runner struct {
	opts  Options
	log   *slog.Logger
	cfg   atomic.Pointer[inUse] // nil before the first slice
	spool *spool
	done  *doneSet

	nc       *nats.Conn
	js       jetstream.JetStream
	follower *tracefile.Follower
	intake   []string // bound intake addresses

	discMu      sync.Mutex
	traceeFiles []string // guarded by discMu: the paths the follower was given

	applyMu  sync.Mutex    // serializes slice applications
	applied  chan struct{} // closed once a slice is in use
	ready    chan struct{} // closed once serving
	once     sync.Once
	inflight sync.WaitGroup
	retired  engine.Retirer // replaced engines, closed a minute later or at stop
	mu       sync.Mutex
	stopping bool      // guarded by mu
	stopBy   time.Time // guarded by mu: when a clean stop must be done

	lines     chan lineJob // Tracee lines waiting for evaluation
	evaluated atomic.Int64 // Tracee lines evaluated
	headOnce  sync.Once
	envHead   []byte // the constant start of a line's envelope

	stallAt atomic.Int64 // spooled events past which the runner is unhealthy

	metrics   *metrics.Runner
	adminAddr string // set before ready closes; "" when off
}

// defaultStallAt is how many spooled events make the runner unhealthy: far
// more than any outage's backlog drains before, so the controller is not
// taking them at all.
const defaultStallAt = 1_000_000

// New prepares a runner: state directory, spool, and the cached slice.
func New(ctx context.Context, o Options) (*Runner, error) {
	if err := o.Settings.Validate(); err != nil {
		return nil, err
	}
	if err := transport.ValidName(o.Settings.Name); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Notifier == nil {
		o.Notifier = sd.NewNotifier(o.Logger)
	}
	if o.Registry == nil {
		o.Registry = action.Default
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.MachineID == "" {
		b, _ := os.ReadFile("/etc/machine-id")
		o.MachineID = strings.TrimSpace(string(b))
	}
	r := &Runner{opts: o, log: o.Logger.With("runner", o.Settings.Name), applied: make(chan struct{}), ready: make(chan struct{})}
	r.stallAt.Store(defaultStallAt)
	if err := os.MkdirAll(o.Settings.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var err error
	if r.spool, err = openSpool(filepath.Join(o.Settings.StateDir, "spool"), r.log); err != nil {
		return nil, err
	}
	if r.done, err = openDone(o.Settings.StateDir); err != nil {
		return nil, err
	}
	r.metrics = r.newMetrics()
	r.loadCachedSlice(ctx)
	return r, nil
}

// Ready is closed once the runner serves.
func (r *Runner) Ready() <-chan struct{} { return r.ready }

// Intake lists the bound intake URLs, after Ready.
func (r *Runner) Intake() []string { return r.intake }

// Applied is closed once a config slice is in use.
func (r *Runner) Applied() <-chan struct{} { return r.applied }

// inUse is the slice in use with its engine, swapped as one so that an
// event is reported with the revision of the engine that evaluated it.
type inUse struct {
	eng   *engine.Engine
	slice *transport.Slice
}

// current returns the engine in use and its revision (nil, 0 before the
// first slice).
func (r *Runner) current() (*engine.Engine, int64) {
	if c := r.cfg.Load(); c != nil {
		return c.eng, c.slice.Revision
	}
	return nil, 0
}

// Engine returns the engine of the slice in use (nil before the first one).
func (r *Runner) Engine() *engine.Engine {
	eng, _ := r.current()
	return eng
}

// Revision is the config revision in use (0: none yet).
func (r *Runner) Revision() int64 {
	_, rev := r.current()
	return rev
}

// Run serves until ctx is done.
func (r *Runner) Run(ctx context.Context, reload <-chan struct{}) error {
	s := r.opts.Settings
	srv, err := r.listen()
	if err != nil {
		return err
	}
	if err := r.connect(ctx); err != nil {
		return err
	}
	stopAdmin, err := r.startAdmin()
	if err != nil {
		return err
	}
	defer stopAdmin()
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	start := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(bg) }()
	}
	start(func(ctx context.Context) { r.spool.Run(ctx, r.sendUp) })
	start(r.consumeWork)
	lineWorkers := r.startLineWorkers()
	start(r.heartbeat)
	if err := r.startFollower(bg, &wg); err != nil {
		stopBG()
		return err
	}
	start(r.watchSettings)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	r.waitForConfig(ctx, 10*time.Second)
	if ctx.Err() != nil {
		// Stopped while waiting: READY=1 now would tell systemd that a
		// stopping service started, and runner.json would announce it.
		close(r.ready)
		return r.shutdown(srv, stopBG, &wg, lineWorkers)
	}
	if err := r.announce(); err != nil {
		r.log.Warn("cannot write runner.json", logx.Err(err))
	}
	close(r.ready)
	r.log.Info("runner ready", "intake", strings.Join(r.intake, ","), "controller", s.ControllerURL, "config_revision", r.Revision())
	_ = r.opts.Notifier.Ready(r.status())
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return r.shutdown(srv, stopBG, &wg, lineWorkers)
		case err := <-serveErr:
			stopBG()
			return fmt.Errorf("intake: %w", err)
		case <-reload:
			r.reload(ctx)
		case <-tick.C:
			_ = r.opts.Notifier.Status(r.status())
		}
	}
}

func (r *Runner) listen() (*webhook.Server, error) {
	s := r.opts.Settings
	httpLn, err := sd.ListenOptional(r.opts.Listeners, "http", s.URL)
	if err != nil {
		return nil, fmt.Errorf("http intake: %w", err)
	}
	httpsLn, err := sd.ListenOptional(r.opts.Listeners, "https", s.TLS)
	if err != nil {
		return nil, fmt.Errorf("https intake: %w", err)
	}
	access, err := webhook.LoadAccess(s.IntakeTokenFile, s.IntakeClientCA)
	if err != nil {
		return nil, err
	}
	if access.Open() && (webhook.Exposed(httpLn) || webhook.Exposed(httpsLn)) {
		r.log.Warn("the intake takes events from the network without a token or client certificates: firewall it (README: Runner intake)")
	}
	mux := webhook.NewMux(webhook.Options{Sink: r, BodyLimit: s.BodyLimit, MaxInflight: s.MaxInflightBytes, Token: access.Token,
		Health: r.Healthy, Logger: r.log, BadInput: func(reason string) { r.metrics.BadInput.WithLabelValues(reason).Inc() }})
	if httpLn != nil {
		r.intake = append(r.intake, "http://"+httpLn.Addr().String())
	}
	if httpsLn == nil {
		return webhook.NewServer(mux, httpLn, nil, nil), nil
	}
	r.intake = append(r.intake, "https://"+httpsLn.Addr().String())
	cert, err := webhook.LoadOrCreateCert(s.HTTPSCert, s.HTTPSKey, filepath.Join(s.StateDir, "tls"))
	if err != nil {
		return nil, err
	}
	return webhook.NewServer(mux, httpLn, httpsLn, cert, access.ServerOptions()...), nil
}

func (r *Runner) waitForConfig(ctx context.Context, max time.Duration) {
	select {
	case <-r.applied:
	case <-ctx.Done():
	case <-time.After(max):
		r.log.Warn("no config from the controller yet and none cached; events are spooled for the controller until one arrives")
	}
}

func (r *Runner) status() string {
	conn := "controller unreachable"
	if r.nc != nil && r.nc.IsConnected() {
		conn = "connected to controller"
	}
	routes := 0
	if e := r.Engine(); e != nil {
		routes = len(e.Routes())
	}
	st := fmt.Sprintf("%s, cfg rev %d, %d routes, %d events spooled", conn, r.Revision(), routes, r.spool.Pending())
	if n := r.spool.Dropped(); n > 0 {
		st += fmt.Sprintf(" (%d dropped as unsendable)", n)
	}
	if r.follower != nil {
		fs := r.follower.Stats()
		st += fmt.Sprintf(", %d tracee lines (%d bad) from %d files", fs.Lines, fs.BadLines, len(fs.Files))
	}
	return st
}

// The stop's bounds. postee-runner.service gives a stop TimeoutStopSec=120s
// before SIGKILL; the runner means to be done with work in flight within
// stopBudget of the signal, leaving the rest for sending messages held for
// aggregation (up to 20 s) and closing the spool and the connection. Inside
// it, a job or local action started just before the stop gets past the exec
// action's default timeout (exec.DefaultTimeout, 60 s) to end; taking
// requests ends first, within httpStopMax. Raising one of these means
// raising TimeoutStopSec with it.
const (
	stopBudget  = 80 * time.Second
	httpStopMax = 10 * time.Second
)

func (r *Runner) shutdown(srv *webhook.Server, stopBG func(), wg, lineWorkers *sync.WaitGroup) error {
	_ = r.opts.Notifier.Stopping()
	r.log.Info("stopping: finishing events in flight")
	deadline := time.Now().Add(stopBudget)
	r.mu.Lock()
	r.stopping, r.stopBy = true, deadline
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), httpStopMax)
	defer cancel()
	err := srv.Shutdown(ctx)
	stopBG()
	wg.Wait()      // the follower is done: no more lines; work drained (until deadline)
	close(r.lines) // workers evaluate what is queued, then end
	lineWorkers.Wait()
	if !waitBefore(&r.inflight, deadline) {
		r.log.Warn("local actions still running at the stop deadline; stopping without them")
	}
	// Closing sends what the engines hold for aggregation (bounded by
	// engine.flushTimeout), before the spool and the connection close.
	r.retired.CloseAll()
	if e := r.Engine(); e != nil {
		e.Close()
	}
	switch {
	case r.nc == nil:
	case r.nc.IsConnected():
		// Outcomes are published without waiting; the drain ends in the
		// background, possibly after we exit, so they are flushed first.
		_ = r.nc.FlushTimeout(2 * time.Second)
		_ = r.nc.Drain()
	default: // a drain would wait for a reconnect until its timeout
		r.nc.Close()
	}
	_ = r.spool.Close()
	_ = r.done.Close()
	_ = os.Remove(filepath.Join(r.opts.Settings.RuntimeDir, "runner.json"))
	r.log.Info("stopped")
	return err
}

func (r *Runner) reload(ctx context.Context) {
	_ = r.opts.Notifier.Reloading()
	r.reloadDiscovery()
	r.fetchConfig(ctx)
	_ = r.opts.Notifier.Ready(r.status())
}

// waitBefore waits for wg until deadline; false if it gave up.
func waitBefore(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// stopDeadline is when a clean stop must be done; without a stop under way
// (the runner failed) a drain gets workDrainMax.
func (r *Runner) stopDeadline() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopBy.IsZero() {
		return time.Now().Add(workDrainMax)
	}
	return r.stopBy
}

// ErrStopping is returned for events arriving during shutdown.
var ErrStopping = errors.New("runner is stopping")

// Healthy is nil while the runner works; otherwise the watchdog stops
// pinging and /healthz answers 503.
func (r *Runner) Healthy() error {
	if n := r.spool.Pending(); n > r.stallAt.Load() {
		return fmt.Errorf("%d events spooled: upstream stalled", n)
	}
	return nil
}
