// Package runner is the postee-runner daemon: it takes events locally
// (webhook, Tracee files), runs the actions placed on it, reports every event
// to the controller once, and executes work the controller dispatches. Its
// config slice comes from the controller and is cached on disk.
//
// A Runner composes parts that each run on their own: intake (webhook and
// Tracee files into the journal), upstream (journal → controller), local
// (journal → the runner's own actions), jobs (dispatched work), configSync
// (the slice in use) and link (the connection, heartbeats).
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/fsutil"
	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/logx"
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
	Timings   Timings
}

// Timings are the runner's waits; zero values take the defaults.
type Timings struct {
	ConfigWait  time.Duration // at start, for a first slice before READY (10 s)
	StatusEvery time.Duration // STATUS= lines (10 s)
	Heartbeat   time.Duration // heartbeats (transport.HeartbeatInterval)
	ScanHeld    time.Duration // held aggregations checked against their timeout (1 s)
}

func (t Timings) withDefaults() Timings {
	if t.ConfigWait <= 0 {
		t.ConfigWait = 10 * time.Second
	}
	if t.StatusEvery <= 0 {
		t.StatusEvery = 10 * time.Second
	}
	if t.Heartbeat <= 0 {
		t.Heartbeat = transport.HeartbeatInterval
	}
	return t
}

// Runner is a running postee-runner.
type Runner struct {
	opts    Options
	log     *slog.Logger
	journal *journal
	marks   *fileMarks
	cfg     *configSync
	exec    *engine.Executor
	plugins *engine.Plugins
	up      *upstream
	local   *local
	in      *intake
	files   *traceeFiles
	metrics *metrics.Runner
	link    *link         // set by Run, before linked is closed
	linked  chan struct{} // closed once Run set link

	ready     chan struct{} // closed once serving
	mu        sync.Mutex
	stopBy    time.Time    // guarded by mu: when a clean stop must be done
	intakeURL []string     // bound intake addresses, set before ready closes
	adminAddr string       // set before ready closes; "" when off
	stallAt   atomic.Int64 // spooled events past which the runner is unhealthy
}

// defaultStallAt is how many spooled events make the runner unhealthy: far
// more than any outage's backlog drains before, so the controller is not
// taking them at all.
const defaultStallAt = 1_000_000

// New prepares a runner: state directory, journal, idempotency log and the
// cached slice.
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
	o.Timings = o.Timings.withDefaults()
	s := o.Settings
	r := &Runner{opts: o, log: o.Logger.With("runner", s.Name), ready: make(chan struct{}), linked: make(chan struct{})}
	r.stallAt.Store(defaultStallAt)
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var err error
	if r.journal, err = openJournal(filepath.Join(s.StateDir, "spool")); err != nil {
		return nil, err
	}
	if r.marks, err = openMarks(s.StateDir); err != nil {
		r.journal.Close()
		return nil, err
	}
	r.metrics = r.newMetrics()
	r.exec = engine.NewExecutor(engine.ExecutorOptions{Limit: s.MaxConcurrentActions, Marks: r.marks, Logger: r.log})
	r.plugins = engine.NewPlugins(engine.PluginsOptions{Logger: r.log, ScanEvery: o.Timings.ScanHeld, Observer: r.metrics})
	r.cfg = newConfigSync(syncDeps{Name: s.Name, StateDir: s.StateDir, Registry: o.Registry, Logger: r.log, Applied: r.sendHeartbeat,
		Observer: actionMetrics{r.metrics}})
	r.up = newUpstream(r.journal, r.log, func(ctx context.Context, entry []byte) error { return publisher(r.link)(ctx, entry) })
	r.local = newLocal(r.journal, r.cfg, r.plugins, r.exec, r.marks, r.log)
	r.in = &intake{name: s.Name, host: o.Hostname, machineID: o.MachineID, j: r.journal, cfg: r.cfg, up: r.up, local: r.local,
		metrics: r.metrics, log: r.log, maxBacklog: 256 << 20, fits: func(n int) error {
			if r.link == nil {
				return nil
			}
			return transport.Fits(r.link.nc, n)
		}}
	r.files = &traceeFiles{settings: s, log: r.log, handle: r.in.onLine, beforeCommit: r.in.beforeCommit, metrics: r.metrics}
	r.cfg.loadCache(ctx)
	return r, nil
}

// Ready is closed once the runner serves.
func (r *Runner) Ready() <-chan struct{} { return r.ready }

// Intake lists the bound intake URLs, after Ready.
func (r *Runner) Intake() []string { return r.intakeURL }

// Applied is closed once a config slice is in use.
func (r *Runner) Applied() <-chan struct{} { return r.cfg.applied }

// Engine returns the engine of the slice in use (nil before the first one).
func (r *Runner) Engine() *engine.Engine {
	eng, _ := r.cfg.current()
	return eng
}

// Revision is the config revision in use (0: none yet).
func (r *Runner) Revision() int64 {
	_, rev := r.cfg.current()
	return rev
}

// Run serves until ctx is done.
func (r *Runner) Run(ctx context.Context, reload <-chan struct{}) error {
	srv, err := r.listen()
	if err != nil {
		return err
	}
	if r.link, err = dial(ctx, r.opts.Settings, linkDeps{Logger: r.opts.Logger, Up: r.connected, Slice: func(b []byte) { r.cfg.receive(context.Background(), b) }}); err != nil {
		if ctx.Err() != nil {
			r.closeState()
			return nil // stopped before it started: a clean stop
		}
		return err
	}
	close(r.linked)
	stopAdmin, err := r.startAdmin()
	if err != nil {
		r.link.close()
		return err
	}
	defer stopAdmin()
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var parts, localDone sync.WaitGroup
	start := func(wg *sync.WaitGroup, fn func(context.Context)) { wg.Go(func() { fn(bg) }) }
	start(&parts, r.up.Run)
	localCtx, stopLocal := context.WithCancel(context.WithoutCancel(ctx))
	localDone.Go(func() { r.local.Run(localCtx) })
	jobs := newJobs(r.opts.Settings.Name, r.link, r.cfg, r.exec, r.marks, r.metrics, r.log, r.stopDeadline)
	start(&parts, jobs.Run)
	start(&parts, func(ctx context.Context) { r.link.heartbeat(ctx, r.opts.Timings.Heartbeat, r.status) })
	start(&parts, func(ctx context.Context) { r.plugins.Run(ctx, r.Engine, r.runFlushed) })
	start(&parts, r.syncDisk)
	if err := r.files.start(bg, &parts); err != nil {
		stopBG()
		stopLocal()
		return err
	}
	start(&parts, r.files.watchSettings)
	serveErr := make(chan error, 1)
	if srv != nil {
		go func() { serveErr <- srv.Serve() }()
	}
	stop := func() error { return r.shutdown(srv, stopBG, &parts, stopLocal, &localDone) }
	r.waitForConfig(ctx)
	if ctx.Err() != nil {
		// Stopped while waiting: READY=1 now would tell systemd that a
		// stopping service started, and runner.json would announce it.
		close(r.ready)
		return stop()
	}
	if err := r.announce(); err != nil {
		r.log.Warn("cannot write runner.json", logx.Err(err))
	}
	close(r.ready)
	r.log.Info("runner ready", "intake", strings.Join(r.intakeURL, ","), "controller", r.opts.Settings.ControllerURL, "config_revision", r.Revision())
	_ = r.opts.Notifier.Ready(r.statusLine())
	tick := time.NewTicker(r.opts.Timings.StatusEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return stop()
		case err := <-serveErr:
			_ = stop()
			return fmt.Errorf("intake: %w", err)
		case <-reload:
			r.reload(ctx)
		case <-tick.C:
			_ = r.opts.Notifier.Status(r.statusLine())
		}
	}
}

// connected runs each time the connection to the controller comes up.
func (r *Runner) connected() {
	<-r.linked // the link can come up before Run stored it
	r.up.Kick()
	r.fetchConfig(context.Background())
}

func (r *Runner) fetchConfig(ctx context.Context) {
	if !r.link.connected() {
		return
	}
	b, err := r.link.fetchConfig(ctx)
	if err != nil {
		r.log.Warn("cannot fetch config from the controller", logx.Err(err))
		return
	}
	r.cfg.receive(ctx, b)
}

// runFlushed runs the local steps of aggregated messages whose timeout
// passed.
func (r *Runner) runFlushed(ctx context.Context, ms []engine.Match) {
	if eng := r.Engine(); eng != nil {
		r.local.run(ctx, eng, ms)
	}
}

// syncDisk makes the idempotency log durable every second (and the
// journal, for webhook events already fsynced one by one and lines before
// their offsets are saved).
func (r *Runner) syncDisk(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.marks.Sync(); err != nil {
				r.log.Warn("idempotency log not synced", logx.Err(err))
			}
		}
	}
}

// listen binds the intake listeners; nil when both are off (a runner that
// only runs dispatched work or follows Tracee files).
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
	if httpLn == nil && httpsLn == nil {
		return nil, nil
	}
	access, err := webhook.LoadAccess(s.IntakeTokenFile, s.IntakeClientCA)
	if err != nil {
		return nil, err
	}
	if access.Open() && (webhook.Exposed(httpLn) || webhook.Exposed(httpsLn)) {
		r.log.Warn("the intake takes events from the network without a token or client certificates: firewall it (README: Runner intake)")
	}
	mux := webhook.NewMux(webhook.Options{Sink: r.in, BodyLimit: s.BodyLimit, MaxInflight: s.MaxInflightBytes, Token: access.Token,
		Health: r.Healthy, Logger: r.log, BadInput: func(reason string) { r.metrics.BadInput.WithLabelValues(reason).Inc() }})
	if httpLn != nil {
		r.intakeURL = append(r.intakeURL, "http://"+httpLn.Addr().String())
	}
	if httpsLn == nil {
		return webhook.NewServer(mux, httpLn, nil, nil), nil
	}
	r.intakeURL = append(r.intakeURL, "https://"+httpsLn.Addr().String())
	cert, err := webhook.LoadOrCreateCert(s.HTTPSCert, s.HTTPSKey, filepath.Join(s.StateDir, "tls"))
	if err != nil {
		return nil, err
	}
	return webhook.NewServer(mux, httpLn, httpsLn, cert, access.ServerOptions()...), nil
}

func (r *Runner) waitForConfig(ctx context.Context) {
	select {
	case <-r.cfg.applied:
	case <-ctx.Done():
	case <-time.After(r.opts.Timings.ConfigWait):
		r.log.Warn("no config from the controller yet and none cached; events are spooled for the controller until one arrives")
	}
}

func (r *Runner) status() transport.Status {
	st := transport.Status{Host: r.opts.Hostname, MachineID: r.opts.MachineID, Version: r.opts.Version,
		Spooled: r.up.Pending(), Intake: r.intakeURL, Time: time.Now()}
	if sl := r.cfg.slice(); sl != nil {
		st.ConfigRevision, st.ConfigDigest = sl.Revision, sl.Digest
	}
	return st
}

func (r *Runner) sendHeartbeat() {
	if r.link != nil {
		r.link.publishStatus(r.status())
	}
}

func (r *Runner) statusLine() string {
	conn := "controller unreachable"
	if r.link.connected() {
		conn = "connected to controller"
	}
	routes := 0
	if e := r.Engine(); e != nil {
		routes = len(e.Routes())
	}
	st := fmt.Sprintf("%s, cfg rev %d, %d routes, %d events spooled", conn, r.Revision(), routes, r.up.Pending())
	if n := r.up.Dropped(); n > 0 {
		st += fmt.Sprintf(" (%d dropped as unsendable)", n)
	}
	if err := r.journal.Failed(); err != nil {
		st += ", disk full: events refused"
	}
	return st + r.files.statusLine()
}

// The stop's bounds. postee-runner.service gives a stop TimeoutStopSec=120s
// before SIGKILL; the runner means to be done with work in flight within
// stopBudget of the signal, leaving the rest for closing the journal and
// the connection. Inside it, a job or local action started just before the
// stop gets past the exec action's default timeout (exec.DefaultTimeout,
// 60 s) to end; taking requests ends first, within httpStopMax. Raising one
// of these means raising TimeoutStopSec with it. Whatever is not done by
// then is done after the restart: nothing taken in is lost.
const (
	stopBudget  = 80 * time.Second
	httpStopMax = 10 * time.Second
)

func (r *Runner) shutdown(srv *webhook.Server, stopBG func(), parts *sync.WaitGroup, stopLocal func(), localDone *sync.WaitGroup) error {
	_ = r.opts.Notifier.Stopping()
	r.log.Info("stopping: finishing events in flight")
	deadline := time.Now().Add(stopBudget)
	r.mu.Lock()
	r.stopBy = deadline
	r.mu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), httpStopMax)
		err = srv.Shutdown(ctx)
		cancel()
	}
	r.in.stop()
	stopBG()
	parts.Wait() // the follower is done (no more lines), work drained until the deadline, held messages handled
	if !r.local.drain(deadline) {
		r.log.Warn("local actions still pending at the stop deadline; they run after the restart")
	}
	stopLocal()
	localDone.Wait()
	r.cfg.close()
	st := r.status()
	st.Stopping = true
	r.link.publishStatus(st)
	r.link.close()
	r.closeState()
	_ = os.Remove(filepath.Join(r.opts.Settings.RuntimeDir, "runner.json"))
	r.log.Info("stopped")
	return err
}

// closeState closes the journal and the idempotency log.
func (r *Runner) closeState() {
	_ = r.journal.Close()
	_ = r.marks.Close()
}

func (r *Runner) reload(ctx context.Context) {
	_ = r.opts.Notifier.Reloading()
	r.files.reloadDiscovery()
	r.fetchConfig(ctx)
	_ = r.opts.Notifier.Ready(r.statusLine())
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

// Healthy is nil while the runner works; otherwise the watchdog stops
// pinging and /healthz answers 503.
func (r *Runner) Healthy() error {
	if err := r.journal.Failed(); err != nil {
		return fmt.Errorf("disk full: events cannot be spooled: %w", err)
	}
	if n := r.up.Pending(); n > r.stallAt.Load() {
		return fmt.Errorf("%d events spooled: upstream stalled", n)
	}
	return nil
}

// announce writes runner.json into the runtime directory so local producers
// and scripts can find this runner.
func (r *Runner) announce() error {
	s := r.opts.Settings
	if err := mkdirReadable(s.RuntimeDir); err != nil {
		return err
	}
	b, _ := jsonIndent(map[string]any{
		"name": s.Name, "host": r.opts.Hostname, "machine_id": r.opts.MachineID, "version": r.opts.Version,
		"intake": r.intakeURL, "controller": s.ControllerURL, "pid": os.Getpid(),
	})
	return fsutil.WriteFileAtomic(filepath.Join(s.RuntimeDir, "runner.json"), append(b, '\n'), 0o644)
}

// mkdirReadable creates dir readable by all when it is missing: under the
// unit's UMask=0077 it would otherwise be private, hiding runner.json from
// the local producers it is for. An existing directory keeps its mode.
func mkdirReadable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
