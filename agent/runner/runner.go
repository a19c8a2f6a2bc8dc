// Package runner is the postee-runner daemon: it takes events locally
// (webhook, Tracee files), runs the actions placed on it, reports every event
// to the controller once, and executes work the controller dispatches. Its
// config slice comes from the controller and is cached on disk.
//
// A Runner composes parts that each run on their own: intake (webhook and
// Tracee files into the journal), upstream (journal → controller), local
// (journal → the runner's own actions), jobs (dispatched work), configSync
// (the slice in use) and link (the connection, heartbeats). Each is a part
// (parts.go) built in New from an explicit dependencies struct, its waits
// taken from Timings; Run starts them, shutdown stops them in order.
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

// withDefaults checks the settings and fills what is unset.
func (o Options) withDefaults() (Options, error) {
	if err := o.Settings.Validate(); err != nil {
		return o, err
	}
	if err := transport.ValidName(o.Settings.Name); err != nil {
		return o, err
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
	return o, nil
}

// Runner is a running postee-runner. It builds its parts in New and runs
// them in Run as groups that a stop ends one after another (shutdown).
type Runner struct {
	opts Options
	log  *slog.Logger

	journal *journal   // events taken in, read by up and local
	marks   *fileMarks // the idempotency log
	metrics *metrics.Runner
	exec    *engine.Executor // runs the steps of local actions and jobs
	plugins *engine.Plugins  // dedup and aggregation before local actions

	cfg        *configSync
	link       *link
	in         *intake
	files      *traceeFiles // the intake's
	up         *upstream
	local      *local // stopped apart, once drained
	background []part // stopped together, after the intake

	ready     chan struct{} // closed once serving
	stopBy    deadline      // set when a stop begins
	intakeURL []string      // bound intake addresses, set before ready closes
	adminAddr string        // set before ready closes; "" when off
	stallAt   atomic.Int64  // spooled events past which the runner is unhealthy
}

// defaultStallAt is how many spooled events make the runner unhealthy: far
// more than any outage's backlog drains before, so the controller is not
// taking them at all.
const defaultStallAt = 1_000_000

// New prepares a runner: state directory, journal, idempotency log, its
// parts and the cached slice.
func New(ctx context.Context, o Options) (*Runner, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Runner{opts: o, log: o.Logger.With("runner", o.Settings.Name), ready: make(chan struct{})}
	r.stallAt.Store(defaultStallAt)
	if err := r.openState(); err != nil {
		return nil, err
	}
	if err := r.compose(); err != nil {
		r.closeState()
		return nil, err
	}
	r.cfg.loadCache(ctx)
	return r, nil
}

// openState opens the state directory's journal and idempotency log.
func (r *Runner) openState() error {
	dir := r.opts.Settings.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	var err error
	if r.journal, err = openJournal(filepath.Join(dir, "spool")); err != nil {
		return err
	}
	if r.marks, err = openMarks(dir); err != nil {
		r.journal.Close()
		return err
	}
	return nil
}

// compose builds the parts, each with its dependencies and timings.
func (r *Runner) compose() error {
	s, t, o := r.opts.Settings, r.opts.Timings, r.opts
	r.metrics = r.newMetrics()
	r.exec = engine.NewExecutor(engine.ExecutorOptions{Limit: s.MaxConcurrentActions, Marks: r.marks, Logger: r.log})
	r.plugins = engine.NewPlugins(engine.PluginsOptions{Logger: r.log, ScanEvery: t.ScanHeld, Observer: r.metrics})
	r.link = newLink(s, linkDeps{Logger: o.Logger, Up: r.connected, Slice: func(b []byte) { r.cfg.receive(context.Background(), b) },
		Status: r.status, Heartbeat: t.Heartbeat, SliceGet: t.SliceGet, Request: t.Request, Flush: t.Flush})
	r.cfg = newConfigSync(syncDeps{Name: s.Name, StateDir: s.StateDir, Registry: o.Registry, Logger: r.log,
		Applied:  func() { r.link.publishStatus(r.status()) }, // the controller hears the new revision at once
		Observer: actionMetrics{r.metrics}, Fetch: r.link.fetchConfig, Retire: t.Retire})
	r.up = newUpstream(upstreamDeps{Journal: r.journal, Logger: r.log, Send: r.link.publish,
		RetryMin: t.RetryMin, RetryMax: t.RetryMax, SaveEvery: t.DiskSync})
	r.local = newLocal(localDeps{Journal: r.journal, Config: r.cfg, Plugins: r.plugins, Exec: r.exec, Marks: r.marks, Logger: r.log,
		SaveEvery: t.LocalSave, Poll: t.Poll})
	var err error
	r.in, err = newIntake(intakeDeps{Name: s.Name, Host: o.Hostname, MachineID: o.MachineID, Journal: r.journal, Config: r.cfg,
		Up: r.up, Local: r.local, Metrics: r.metrics, Logger: r.log, Fits: r.link.fits, Poll: t.Poll,
		Tracee: traceeDeps{Settings: s, Logger: r.log, Metrics: r.metrics, Commit: t.TraceeCommit, Settle: t.Settle,
			RetryMin: t.RetryMin, RetryMax: t.RetryMax}})
	if err != nil {
		return err
	}
	r.files = r.in.files
	jobs := newJobs(jobsDeps{Name: s.Name, Link: r.link, Config: r.cfg, Exec: r.exec, Marks: r.marks, Metrics: r.metrics,
		Logger: r.log, StopBy: r.stopBy.get, WorkLookup: t.WorkLookup, WorkRetry: t.WorkRetry, UnfinishedRetry: t.UnfinishedRetry,
		PullExpiry: t.PullExpiry, PullHeartbeat: t.PullHeartbeat, KeepAlive: t.KeepAlive, Request: t.Request, WorkDrain: t.WorkDrain})
	held := partFunc(func(ctx context.Context) { r.plugins.Run(ctx, r.Engine, r.local.runFlushed) })
	r.background = []part{r.cfg, r.link, r.in, r.up, jobs, held, diskSync{marks: r.marks, every: t.DiskSync, log: r.log}}
	return nil
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
	if err := r.link.dial(ctx); err != nil {
		if ctx.Err() != nil {
			r.closeState()
			return nil // stopped before it started: a clean stop
		}
		return err
	}
	stopAdmin, err := r.startAdmin()
	if err != nil {
		r.link.close()
		return err
	}
	defer stopAdmin()
	bg, local := startGroup(ctx, r.background...), startGroup(ctx, r.local)
	serveErr := serve(srv)
	stop := func() error { return r.shutdown(srv, bg, local) }
	if !r.begin(ctx) {
		return stop()
	}
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

// serve serves the webhook intake, if any, until it fails.
func serve(srv *webhook.Server) <-chan error {
	failed := make(chan error, 1)
	if srv != nil {
		go func() { failed <- srv.Serve() }()
	}
	return failed
}

// begin waits for a first slice, then tells systemd and local producers
// that the runner serves; false when ctx ended first. Ready is closed
// either way.
func (r *Runner) begin(ctx context.Context) bool {
	select {
	case <-r.cfg.applied:
	case <-ctx.Done():
	case <-time.After(r.opts.Timings.ConfigWait):
		r.log.Warn("no config from the controller yet and none cached; events are spooled for the controller until one arrives")
	}
	if ctx.Err() != nil {
		// Stopped while waiting: READY=1 now would tell systemd that a
		// stopping service started, and runner.json would announce it.
		close(r.ready)
		return false
	}
	if err := r.announce(); err != nil {
		r.log.Warn("cannot write runner.json", logx.Err(err))
	}
	close(r.ready)
	r.log.Info("runner ready", "intake", strings.Join(r.intakeURL, ","), "controller", r.opts.Settings.ControllerURL, "config_revision", r.Revision())
	_ = r.opts.Notifier.Ready(r.statusLine())
	return true
}

// connected runs each time the connection to the controller comes up.
func (r *Runner) connected() {
	r.up.Kick()
	r.cfg.refetch()
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

func (r *Runner) status() transport.Status {
	st := transport.Status{Host: r.opts.Hostname, MachineID: r.opts.MachineID, Version: r.opts.Version,
		Spooled: r.up.Pending(), Intake: r.intakeURL, Time: time.Now()}
	if sl := r.cfg.slice(); sl != nil {
		st.ConfigRevision, st.ConfigDigest = sl.Revision, sl.Digest
	}
	return st
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

// shutdown stops the parts in the order that loses nothing: taking
// requests ends, then the intake, then the background parts (the follower,
// the upstream, work drained until the deadline, held messages handled),
// then the local actions once drained; the engines, the connection and the
// state close last. The bounds are Timings.
func (r *Runner) shutdown(srv *webhook.Server, bg, local *group) error {
	_ = r.opts.Notifier.Stopping()
	r.log.Info("stopping: finishing events in flight")
	deadline := r.stopBy.start(r.opts.Timings.StopBudget)
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timings.HTTPStop)
		err = srv.Shutdown(ctx)
		cancel()
	}
	r.in.stop()
	bg.stop()
	if !r.local.drain(deadline) {
		r.log.Warn("local actions still pending at the stop deadline; they run after the restart")
	}
	local.stop()
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
	r.cfg.fetchNow(ctx)
	_ = r.opts.Notifier.Ready(r.statusLine())
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
