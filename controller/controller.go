// Package controller is the posteed-controller daemon: HTTP intake, the
// engine for controller-side actions, and (in controller mode) the embedded
// NATS server through which it configures runners and dispatches their work.
package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/daemon"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/sd"
)

// Options are the controller's dependencies.
type Options struct {
	Settings  Settings
	Logger    *slog.Logger
	Notifier  sd.StateNotifier
	Registry  *action.Registry
	Listeners map[string][]net.Listener // socket-activated, by name ("http", "https")
	Version   string
	Metrics   *metrics.Controller // default: a new registry
}

// Controller is a running posteed-controller.
type Controller struct {
	opts  Options
	log   *slog.Logger
	eng   atomic.Pointer[engine.Engine]
	rev   atomic.Int64
	fleet *fleet // nil unless in controller mode

	gate    daemon.Gate // events in flight; closed at the stop
	plugins *engine.Plugins
	exec    *engine.Executor
	ready   chan struct{}
	loaded  atomic.Value // string: sha256 of the cfg.yaml bytes in use
	epoch   string       // random per start: runners compare revisions within one epoch
	retired engine.Retirer
	addrs   []string // intake addresses, set before ready closes

	metrics   *metrics.Controller
	stats     *stats // the status page's counts; the engines' Observer
	adminAddr string // set before ready closes; "" when off
}

// New loads and compiles the config; it does not listen yet.
func New(ctx context.Context, o Options) (*Controller, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Notifier == nil {
		o.Notifier = sd.NewNotifier(o.Logger)
	}
	if o.Registry == nil {
		o.Registry = action.Default
	}
	c := &Controller{opts: o, log: o.Logger, ready: make(chan struct{}), metrics: o.Metrics}
	if c.metrics == nil {
		c.metrics = metrics.NewController(o.Version, c.fleetMetrics)
	}
	c.stats = newStats(c.metrics)
	c.plugins = engine.NewPlugins(engine.PluginsOptions{Logger: c.log})
	c.exec = engine.NewExecutor(engine.ExecutorOptions{Limit: o.Settings.MaxConcurrentActions, Logger: c.log})
	eng, err := c.compile(ctx)
	if err != nil {
		return nil, err
	}
	c.eng.Store(eng)
	c.epoch = engine.NewID()[:16]
	c.rev.Store(c.loadRevision() + 1)
	c.saveRevision()
	c.metrics.ConfigRevision.Set(float64(c.rev.Load()))
	return c, nil
}

func (c *Controller) compile(ctx context.Context) (*engine.Engine, error) {
	sum := fileDigest(c.opts.Settings.CfgFile)
	eng, err := compile(ctx, c.opts.Settings.CfgFile, c.opts.Settings.RegoFilters,
		engine.Options{Registry: c.opts.Registry, Logger: c.log, Observer: c.stats, StateDir: c.opts.Settings.StateDir})
	if err == nil {
		c.loaded.Store(sum)
		engine.LogWarnings(c.log, eng)
	}
	return eng, err
}

// The config revision survives restarts (state-dir/revision), so the
// numbers runners and operators see only grow.
func (c *Controller) revisionFile() string {
	return filepath.Join(c.opts.Settings.StateDir, "revision")
}

func (c *Controller) loadRevision() int64 {
	b, err := os.ReadFile(c.revisionFile())
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func (c *Controller) saveRevision() {
	err := os.MkdirAll(c.opts.Settings.StateDir, 0o700)
	if err == nil { // write and rename: a crash leaves the old number, not none
		tmp := c.revisionFile() + ".tmp"
		if err = os.WriteFile(tmp, []byte(strconv.FormatInt(c.rev.Load(), 10)+"\n"), 0o600); err == nil {
			err = os.Rename(tmp, c.revisionFile())
		}
	}
	if err != nil {
		c.log.Warn("config revision not saved; it restarts from 1 next time", logx.Err(err))
	}
}

// fileChanged reports whether cfg.yaml differs from the one in use, so a
// watch event for a file already reloaded by SIGHUP is not a second reload.
func (c *Controller) fileChanged() bool {
	cur, _ := c.loaded.Load().(string)
	return fileDigest(c.opts.Settings.CfgFile) != cur
}

func fileDigest(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Compile loads and compiles a Postee config as the controller would, with
// every registered action type, for dry runs: it runs nothing. Actions
// placed on runners are kept for Engine.Preview.
func Compile(ctx context.Context, file string, log *slog.Logger) (*engine.Engine, error) {
	return CompileIn(ctx, file, "", log)
}

// CompileIn is Compile with Postee's rego-filters folder: where a relative
// input-file not beside file is looked for ("": rego-filters beside file).
func CompileIn(ctx context.Context, file, filtersDir string, log *slog.Logger) (*engine.Engine, error) {
	return compile(ctx, file, filtersDir, engine.Options{Registry: action.Default, Logger: log, Previews: true})
}

func compile(ctx context.Context, file, filtersDir string, o engine.Options) (*engine.Engine, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	if filtersDir != "" {
		cfg.FiltersDir = filtersDir
	}
	return engine.New(ctx, cfg, o)
}

// Ready is closed once the controller listens (and its NATS server is up).
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// HTTPAddr is the bound HTTP intake address ("off" if disabled; "" before Ready).
func (c *Controller) HTTPAddr() string {
	select {
	case <-c.ready:
		return c.addrs[0]
	default:
		return ""
	}
}

// NATSURL is the embedded NATS server's client URL ("" outside controller
// mode), after Ready.
func (c *Controller) NATSURL() string {
	if c.fleet == nil {
		return ""
	}
	return c.fleet.srv.ClientURL()
}

// Revision is the config revision in use.
func (c *Controller) Revision() int64 { return c.rev.Load() }

// ConnectFleet opens a connection in the fleet's NATS account with the
// controller's rights, after Ready (tools and tests); controller mode only.
func (c *Controller) ConnectFleet(opts ...nats.Option) (*nats.Conn, error) {
	if c.fleet == nil {
		return nil, errors.New("controller mode is off: no NATS")
	}
	return c.fleet.srv.ConnectController(opts...)
}

// Engine returns the engine in use.
func (c *Controller) Engine() *engine.Engine { return c.eng.Load() }

// Run serves until ctx is done, then shuts down gracefully: no new events,
// work in flight finished.
func (c *Controller) Run(ctx context.Context, reload <-chan struct{}) error {
	s := c.opts.Settings
	httpLn, err := sd.ListenOptional(c.opts.Listeners, "http", s.URL)
	if err != nil {
		return fmt.Errorf("http intake: %w", err)
	}
	httpsLn, err := sd.ListenOptional(c.opts.Listeners, "https", s.TLS)
	if err != nil {
		return fmt.Errorf("https intake: %w", err)
	}
	var srv *webhook.Server
	mux := webhook.NewMux(webhook.Options{Sink: c, BodyLimit: s.BodyLimit, MaxInflight: s.MaxInflightBytes, Logger: c.log, Health: c.health,
		BadInput: func(reason string) { c.metrics.BadInput.WithLabelValues(reason).Inc() }})
	mux.HandleFunc("GET /runners", c.serveMoved)
	if httpsLn != nil {
		cert, err := webhook.LoadOrCreateCert(s.TLSCert, s.TLSKey, filepath.Join(s.StateDir, "tls"))
		if err != nil {
			return err
		}
		srv = webhook.NewServer(mux, httpLn, httpsLn, cert)
	} else {
		srv = webhook.NewServer(mux, httpLn, nil, nil)
	}
	if c.fleetEnabled() {
		if c.fleet, err = startFleet(ctx, c.fleetDeps()); err != nil {
			return err
		}
		defer c.fleet.close()
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		c.plugins.Run(bg, c.Engine, func(ctx context.Context, ms []engine.Match) { c.process(ctx, c.Engine(), ms) })
	}()
	defer func() { stopBG(); <-flushed }()
	adm, err := c.startAdmin()
	if err != nil {
		return err
	}
	serveErr := make(chan error, 2)
	if adm != nil {
		c.adminAddr = adm.Addr()
		go func() { serveErr <- adm.Serve() }()
		defer func() { _ = adm.Shutdown(context.Background()) }()
	}
	go func() { serveErr <- srv.Serve() }()
	// Watching starts before READY, so a save right after it is seen.
	var changed <-chan struct{} // nil unless watch-config: systemctl reload is the way
	if s.WatchConfig {
		if changed, err = watchFile(ctx, s.CfgFile, 300*time.Millisecond, c.log); err != nil {
			c.log.Warn("cfg.yaml is not watched; reload with SIGHUP", logx.Err(err))
		}
	}
	c.addrs = []string{addr(httpLn), addr(httpsLn)}
	close(c.ready)
	c.log.Info("controller ready", "http", addr(httpLn), "https", addr(httpsLn), "admin", c.adminAddr, "routes", len(c.Engine().Routes()), "config_revision", c.rev.Load())
	_ = c.opts.Notifier.Ready(c.status())
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return c.shutdown(srv)
		case <-changed:
			if c.fileChanged() {
				c.log.Info("cfg.yaml changed; reloading")
				_ = c.Reload(ctx)
			}
		case err := <-serveErr:
			return fmt.Errorf("intake: %w", err)
		case <-reload:
			_ = c.Reload(ctx)
		case <-tick.C:
			_ = c.opts.Notifier.Status(c.status())
		}
	}
}

func addr(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

func (c *Controller) shutdown(srv *webhook.Server) error {
	_ = c.opts.Notifier.Stopping()
	c.log.Info("stopping: finishing events in flight")
	c.gate.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if c.fleet != nil {
		c.fleet.stopUpstream() // events from runners stay queued for the next start
	}
	c.gate.Wait()
	c.retired.CloseAll()
	c.Engine().Close()
	c.log.Info("stopped")
	return err
}

// Reload validates the config file again and swaps it in; on any error the
// running config stays and the error is logged and returned.
func (c *Controller) Reload(ctx context.Context) error {
	_ = c.opts.Notifier.Reloading()
	eng, err := c.compile(ctx)
	if err != nil {
		c.log.Error("reload failed, keeping the running config", logx.Err(err), "config_revision", c.rev.Load())
		c.stats.reloaded(c.rev.Load(), err)
		_ = c.opts.Notifier.Ready(c.status())
		return err
	}
	old := c.eng.Swap(eng)
	rev := c.rev.Add(1)
	c.saveRevision()
	c.stats.reloaded(rev, nil)
	if c.fleet != nil {
		c.fleet.publishAll(ctx)
	}
	c.retired.Retire(old, time.Minute) // events in flight on it finish first
	c.log.Info("config reloaded", "config_revision", rev, "routes", len(eng.Routes()))
	_ = c.opts.Notifier.Ready(c.status())
	return nil
}

func firstLine(err error) string {
	s := err.Error()
	for i, r := range s {
		if r == '\n' {
			return s[:i] + " …"
		}
	}
	return s
}

// status is the STATUS= line. A failed reload leads it until a config
// loads again, so `systemctl status` keeps showing it.
func (c *Controller) status() string {
	s := fmt.Sprintf("%d routes, cfg rev %d", len(c.Engine().Routes()), c.rev.Load())
	if c.fleet != nil {
		s += ", " + c.fleet.summary()
	}
	if r := c.stats.lastReload(); !r.OK {
		s = fmt.Sprintf("reload failed, kept config rev %d: %s; %s", c.rev.Load(), r.Error, s)
	}
	return s
}

// Healthy is nil while the controller can take and dispatch events.
func (c *Controller) Healthy() error { return c.health() }

func (c *Controller) health() error {
	if c.fleet != nil {
		return c.fleet.health()
	}
	return nil
}

// Accept implements webhook.Sink: it matches the event now and runs its
// actions in the background (a stop waits for them).
func (c *Controller) Accept(ctx context.Context, raw []byte, route string) (string, []string, error) {
	ev, err := engine.ParseEvent(raw, "")
	if err != nil {
		return "", nil, err
	}
	if err := c.gate.Enter(); err != nil {
		return ev.ID, nil, err
	}
	eng := c.Engine()
	ms, err := eng.Evaluate(ctx, ev, route)
	if err != nil {
		c.gate.Leave()
		return ev.ID, nil, err
	}
	c.stats.received(metrics.SourceWebhook, ms)
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Route.Name
	}
	send, _, err := c.plugins.Apply(ctx, eng, ms)
	if err != nil {
		c.gate.Leave()
		return ev.ID, names, err
	}
	// Runner work is queued (durably) before the producer gets its answer:
	// if it cannot be, the producer hears so (503) and nothing ran here, so
	// sending the event again is safe. The controller's own actions run in
	// the background.
	if err := c.dispatchAll(context.WithoutCancel(ctx), send); err != nil {
		c.gate.Leave()
		return ev.ID, names, fmt.Errorf("runner work not queued, send the event again: %w", err)
	}
	go func() {
		defer c.gate.Leave()
		c.runLocal(context.WithoutCancel(ctx), eng, send)
	}()
	return ev.ID, names, nil
}

// handle passes the matches of an event through the plugins stage, then
// processes what is sent.
func (c *Controller) handle(ctx context.Context, eng *engine.Engine, ms []engine.Match) error {
	send, _, err := c.plugins.Apply(ctx, eng, ms)
	if err != nil {
		return err
	}
	c.process(ctx, eng, send)
	return nil
}

// process dispatches the runner steps of ms and runs the controller's own.
func (c *Controller) process(ctx context.Context, eng *engine.Engine, ms []engine.Match) {
	_ = c.dispatchAll(ctx, ms) // failures are logged; an upstream event is not redelivered for them
	c.runLocal(ctx, eng, ms)
}

func (c *Controller) dispatchAll(ctx context.Context, ms []engine.Match) error {
	var errs []error
	for _, m := range ms {
		errs = append(errs, c.dispatch(ctx, m))
	}
	return errors.Join(errs...)
}

// runLocal runs the controller's steps of ms through the executor, then
// releases the batches of aggregated messages among them.
func (c *Controller) runLocal(ctx context.Context, eng *engine.Engine, ms []engine.Match) {
	var wg sync.WaitGroup
	for _, m := range ms {
		if local := eng.LocalSteps(m.Route); len(local) > 0 {
			wg.Go(func() { _ = c.exec.RunSteps(ctx, eng, m, local) })
		}
	}
	wg.Wait()
	c.plugins.Done(ctx, ms)
}

// dispatch queues m's runner steps. The runner that reported the event
// (m.From) ran its own actions already.
func (c *Controller) dispatch(ctx context.Context, m engine.Match) error {
	from, id := m.From(), m.Msg.EventID
	var errs []error
	remote := map[string][]engine.Step{}
	var order []string
	for _, s := range m.Route.Steps {
		if s.RunsOn == "" {
			continue
		}
		runner := s.RunsOn
		if runner == engine.Origin {
			runner = c.originRunner(m)
			if runner == "" {
				c.log.Warn("no runner known on the event's host; origin action not run", "route", m.Route.Name, "action", s.Action, "host", m.Host(), "event_id", id)
				continue
			}
		}
		if runner == from && m.FromRan() {
			continue // the reporting runner ran its own actions
		}
		if _, ok := remote[runner]; !ok {
			order = append(order, runner)
		}
		remote[runner] = append(remote[runner], s)
	}
	for _, runner := range order {
		if c.fleet == nil {
			c.log.Error("action placed on a runner but controller mode is off", "route", m.Route.Name, "runner", runner, "event_id", id)
			continue
		}
		if err := c.fleet.dispatch(ctx, runner, m, remote[runner]); err != nil {
			c.log.Error("dispatch failed", "route", m.Route.Name, "runner", runner, "event_id", id, logx.Err(err))
			errs = append(errs, fmt.Errorf("runner %s: %w", runner, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) originRunner(m engine.Match) string {
	if from := m.From(); from != "" {
		return from
	}
	if c.fleet == nil || m.Host() == "" {
		return ""
	}
	return c.fleet.runnerOnHost(m.Host())
}

func (c *Controller) serveRunners(w http.ResponseWriter, _ *http.Request) {
	list := []RunnerInfo{}
	if c.fleet != nil {
		list = c.fleet.list(context.Background())
	}
	writeJSON(w, list)
}
