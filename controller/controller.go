// Package controller is the posteed-controller daemon: HTTP intake, the
// engine for controller-side actions, and (in controller mode) the runner
// channel: the embedded NATS server, or an existing NATS cluster shared
// with other controllers, through which it configures runners and
// dispatches their work. The fleet's state is in JetStream (see jsstate).
package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/daemon"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/fsutil"
	"github.com/postee-fleet/posteed/agent/intake/webhook"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/metrics/prom"
	"github.com/postee-fleet/posteed/agent/sd"
	"github.com/postee-fleet/posteed/controller/jsstate"
)

// Options are the controller's dependencies.
type Options struct {
	Settings  Settings
	Logger    *slog.Logger
	Notifier  sd.StateNotifier
	Registry  *action.Registry
	Listeners map[string][]net.Listener // socket-activated, by name ("http", "https")
	Version   string
	Metrics   *prom.Controller // default: a new registry
	Timings   Timings          // zero fields: the defaults
}

// Controller is a running posteed-controller.
type Controller struct {
	opts   Options
	log    *slog.Logger
	id     string // this process, in the fleet's shared state
	eng    atomic.Pointer[engine.Engine]
	loaded atomic.Value // string: sha256 of the cfg.yaml bytes in use
	// content is the digest of everything the config in use is made of
	// (contentDigest): what the fleet's published revision names.
	content atomic.Value
	cfg     *configState
	fleet   *fleet // nil unless in controller mode

	gate    daemon.Gate // events in flight; closed at the stop
	plugins *engine.Plugins
	exec    *engine.Executor
	ready   chan struct{}
	retired engine.Retirer
	addrs   []string // intake addresses, set before ready closes

	metrics   *prom.Controller
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
	o.Timings = o.Timings.withDefaults()
	c := &Controller{opts: o, log: o.Logger, ready: make(chan struct{}), metrics: o.Metrics, id: controllerID(o.Settings.StateDir, o.Logger)}
	if c.metrics == nil {
		c.metrics = prom.NewController(o.Version, c.metricsState())
	}
	c.stats = newStats(c.metrics)
	c.cfg = &configState{stateDir: o.Settings.StateDir, log: c.log, engine: c.Engine, digest: c.digest, reread: c.reread}
	eng, err := c.compile(ctx)
	if err != nil {
		return nil, err
	}
	c.eng.Store(eng)
	c.cfg.rev.Store(c.cfg.loadLocal())
	if !c.fleetEnabled() {
		c.cfg.next() // with runners, the fleet's revision is set at Run
	}
	c.metrics.ConfigRevision.Set(float64(c.cfg.revision()))
	return c, nil
}

// controllerID names this controller in the fleet's shared state: its
// host and a random part, kept in the state directory so that the
// controller is the same one after a restart (it finishes what it
// started, see jsstate.Marks).
func controllerID(stateDir string, log *slog.Logger) string {
	file := filepath.Join(stateDir, "controller-id")
	if b, err := os.ReadFile(file); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id
		}
	}
	host, _ := os.Hostname()
	id := host + "-" + engine.NewID()[:8]
	err := os.MkdirAll(stateDir, 0o700)
	if err == nil {
		err = fsutil.WriteFileAtomic(file, []byte(id+"\n"), 0o600)
	}
	if err != nil {
		log.Warn("controller id not saved; after a restart this controller is a new one to the fleet", logx.Err(err))
	}
	return id
}

func (c *Controller) compile(ctx context.Context) (*engine.Engine, error) {
	sum := fileDigest(c.opts.Settings.CfgFile)
	eng, err := compile(ctx, c.opts.Settings.CfgFile, c.opts.Settings.RegoFilters,
		engine.Options{Registry: c.opts.Registry, Logger: c.log, Observer: c.stats, StateDir: c.opts.Settings.StateDir})
	if err == nil {
		c.loaded.Store(sum)
		c.content.Store(contentDigest(eng))
		engine.LogWarnings(c.log, eng)
	}
	return eng, err
}

func (c *Controller) digest() string {
	d, _ := c.content.Load().(string)
	return d
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

// NATSURL is where runners connect ("" outside controller mode), after
// Ready.
func (c *Controller) NATSURL() string {
	if c.fleet == nil {
		return ""
	}
	return c.fleet.bus.clientURL()
}

// Revision is the config revision in force.
func (c *Controller) Revision() int64 { return c.cfg.revision() }

// ConnectFleet opens a connection in the fleet's NATS account with the
// controller's rights, after Ready (tools and tests); embedded mode only.
func (c *Controller) ConnectFleet(opts ...nats.Option) (*nats.Conn, error) {
	if c.fleet == nil {
		return nil, errors.New("controller mode is off: no NATS")
	}
	return c.fleet.bus.connect(opts...)
}

// Engine returns the engine in use.
func (c *Controller) Engine() *engine.Engine { return c.eng.Load() }

// Run serves until ctx is done, then shuts down gracefully: no new events,
// work in flight finished.
func (c *Controller) Run(ctx context.Context, reload <-chan struct{}) error {
	s, tm := c.opts.Settings, c.opts.Timings
	srv, httpLn, httpsLn, err := c.listen()
	if err != nil {
		return err
	}
	if err := c.startPipeline(ctx); err != nil {
		return err
	}
	if c.fleet != nil {
		defer c.fleet.close()
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		c.plugins.Run(bg, c.Engine, func(ctx context.Context, ms []engine.Match) { c.handleSent(ctx, c.Engine(), ms, true) })
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
		if changed, err = watchFile(ctx, s.CfgFile, tm.Settle, c.log); err != nil {
			c.log.Warn("cfg.yaml is not watched; reload with SIGHUP", logx.Err(err))
		}
	}
	c.addrs = []string{addr(httpLn), addr(httpsLn)}
	close(c.ready)
	c.log.Info("controller ready", "http", addr(httpLn), "https", addr(httpsLn), "admin", c.adminAddr, "routes", len(c.Engine().Routes()), "config_revision", c.cfg.revision())
	_ = c.opts.Notifier.Ready(c.status())
	tick := time.NewTicker(tm.StatusEvery)
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
			_ = c.shutdown(srv)
			return fmt.Errorf("intake: %w", err)
		case <-reload:
			_ = c.Reload(ctx)
		case <-tick.C:
			_ = c.opts.Notifier.Status(c.status())
		}
	}
}

// listen binds the intake listeners (none at all is fine: a controller that
// only takes its runners' events).
func (c *Controller) listen() (*webhook.Server, net.Listener, net.Listener, error) {
	s := c.opts.Settings
	httpLn, err := sd.ListenOptional(c.opts.Listeners, "http", s.URL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("http intake: %w", err)
	}
	httpsLn, err := sd.ListenOptional(c.opts.Listeners, "https", s.TLS)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("https intake: %w", err)
	}
	mux := webhook.NewMux(webhook.Options{Sink: c, BodyLimit: s.BodyLimit, MaxInflight: s.MaxInflightBytes, Logger: c.log, Health: c.health,
		BadInput: func(reason string) { c.metrics.BadInput.WithLabelValues(reason).Inc() }})
	mux.HandleFunc("GET /runners", c.serveMoved)
	if httpsLn == nil {
		return webhook.NewServer(mux, httpLn, nil, nil), httpLn, nil, nil
	}
	cert, err := webhook.LoadOrCreateCert(s.TLSCert, s.TLSKey, filepath.Join(s.StateDir, "tls"))
	if err != nil {
		return nil, nil, nil, err
	}
	return webhook.NewServer(mux, httpLn, httpsLn, cert), httpLn, httpsLn, nil
}

// startPipeline sets up the stages after the engine: with runners, the
// plugins' state and the record of actions run are the fleet's, in
// JetStream; alone, in memory.
func (c *Controller) startPipeline(ctx context.Context) error {
	s := c.opts.Settings
	if !c.fleetEnabled() {
		c.plugins = engine.NewPlugins(engine.PluginsOptions{Logger: c.log, Observer: c.metrics})
		c.exec = engine.NewExecutor(engine.ExecutorOptions{Limit: s.MaxConcurrentActions, Logger: c.log})
		return nil
	}
	// The stages exist before the fleet starts taking events.
	c.plugins = engine.NewPlugins(engine.PluginsOptions{Logger: c.log, Observer: c.metrics})
	c.exec = engine.NewExecutor(engine.ExecutorOptions{Limit: s.MaxConcurrentActions, Logger: c.log})
	f, err := startFleet(ctx, fleetDeps{Settings: s, Logger: c.log, ID: c.id, Engine: c.Engine, Config: c.cfg,
		Gate: &c.gate, Stats: c.stats, Handle: c.handleEvent,
		Version: c.opts.Version, Timings: c.opts.Timings,
		Stages: func(st *jsstate.State, alive func(string) bool) error {
			var hold *jsstate.Hold
			err := retryJS(ctx, c.log, c.opts.Timings, func() (err error) {
				hold, err = jsstate.NewHold(context.WithoutCancel(ctx), st.Hold, c.id, c.log)
				return err
			})
			if err != nil {
				return err
			}
			c.plugins = engine.NewPlugins(engine.PluginsOptions{Logger: c.log, Observer: c.metrics, Dedup: &jsstate.Dedup{KV: st.Dedup}, Hold: hold})
			c.exec = engine.NewExecutor(engine.ExecutorOptions{Limit: s.MaxConcurrentActions, Logger: c.log, Marks: jsstate.Marks{KV: st.Marks, Self: c.id, Alive: alive}})
			return nil
		}})
	if err != nil {
		return err
	}
	c.fleet = f
	c.metrics.ConfigRevision.Set(float64(c.cfg.revision()))
	return nil
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
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timings.HTTPStop)
	defer cancel()
	err := srv.Shutdown(ctx)
	if c.fleet != nil {
		c.fleet.stopConsuming() // events not fetched stay queued for the next start, or another controller
	}
	c.gate.Wait()
	c.retired.CloseAll()
	c.Engine().Close()
	c.log.Info("stopped")
	return err
}

// Reload validates the config file again and swaps it in; on any error the
// running config stays and the error is logged and returned. With runners
// the new config is published to the fleet as the next revision.
func (c *Controller) Reload(ctx context.Context) error {
	_ = c.opts.Notifier.Reloading()
	eng, err := c.compile(ctx)
	if err != nil {
		c.log.Error("reload failed, keeping the running config", logx.Err(err), "config_revision", c.cfg.revision())
		c.stats.reloaded(c.cfg.revision(), err)
		_ = c.opts.Notifier.Ready(c.status())
		return err
	}
	old := c.eng.Swap(eng)
	rev := int64(0)
	if c.fleet != nil {
		if rev, err = c.cfg.publish(ctx, c.fleet); err != nil {
			c.log.Error("config loaded but not published to the runners", logx.Err(err))
		}
	} else {
		rev = c.cfg.next()
	}
	c.stats.reloaded(rev, nil)
	c.retired.Retire(old, c.opts.Timings.Retire) // events in flight on it finish first
	c.log.Info("config reloaded", "config_revision", rev, "routes", len(eng.Routes()))
	_ = c.opts.Notifier.Ready(c.status())
	return nil
}

// reread loads the config again without publishing it (another
// controller published a revision this one does not have); true when it
// loaded.
func (c *Controller) reread() bool {
	eng, err := c.compile(context.Background())
	if err != nil {
		c.log.Error("cfg.yaml not loaded", logx.Err(err))
		return false
	}
	c.retired.Retire(c.eng.Swap(eng), c.opts.Timings.Retire)
	return true
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
	s := fmt.Sprintf("%d routes, cfg rev %d", len(c.Engine().Routes()), c.cfg.revision())
	if c.fleet != nil {
		s += ", " + c.fleet.summary()
	}
	if r := c.stats.lastReload(); !r.OK {
		s = fmt.Sprintf("reload failed, kept config rev %d: %s; %s", c.cfg.revision(), r.Error, s)
	}
	return s
}

// Status is the STATUS= line systemd shows.
func (c *Controller) Status() string { return c.status() }

// Healthy is nil while the controller can take and dispatch events.
func (c *Controller) Healthy() error { return c.health() }

func (c *Controller) health() error {
	if c.fleet != nil {
		return c.fleet.health()
	}
	return nil
}

// Accept implements webhook.Sink. It matches the event now, for the
// answer; then, with runners, stores it in JetStream before answering, and
// a controller handles it from there. Alone, it handles it in the
// background (a stop waits for it).
func (c *Controller) Accept(ctx context.Context, raw []byte, route string) (string, []string, error) {
	ev, err := engine.ParseEvent(raw, "")
	if err != nil {
		return "", nil, err
	}
	if err := c.gate.Enter(); err != nil {
		return ev.ID, nil, err
	}
	eng, rev := c.Engine(), c.cfg.revision()
	routes, err := eng.Match(ctx, ev, route)
	if err != nil {
		c.gate.Leave()
		return ev.ID, nil, err
	}
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	c.metrics.EventsReceived.WithLabelValues(metrics.SourceWebhook).Inc()
	if c.fleet == nil {
		go func() {
			defer c.gate.Leave()
			if err := c.handleEvent(context.WithoutCancel(ctx), ev, route, names, rev, false); err != nil {
				c.log.Error("event not handled", "event_id", ev.ID, logx.Err(err))
			}
		}()
		return ev.ID, names, nil
	}
	defer c.gate.Leave()
	if why := c.fullFor(routes); why != "" {
		return ev.ID, names, fmt.Errorf("runner work cannot be queued, send the event again: %s", why)
	}
	if err := c.jobsFit(ctx, eng, ev, routes); err != nil {
		return ev.ID, names, err
	}
	stored := bytes.TrimSpace(raw)
	c.fleet.keepParsed(ev, stored) // before the store: its consumer may fetch it at once
	if err := c.fleet.accept(ctx, storedEvent{ID: ev.ID, Route: route, Revision: rev, Routes: names, Event: stored}); err != nil {
		c.fleet.parsed.take(ev.ID)
		return ev.ID, names, err
	}
	return ev.ID, names, nil
}

// handleEvent takes an event through the stages: the routes it matched at
// revision rev (matched again at another), rendered, through the plugins
// stage, its runner steps dispatched and the controller's own run. replay
// says it may have been handled in part before (its steps' marks are read).
func (c *Controller) handleEvent(ctx context.Context, ev *engine.Event, only string, names []string, rev int64, replay bool) error {
	eng := c.Engine()
	var routes []*engine.Route
	if names != nil && rev == c.cfg.revision() {
		for _, n := range names {
			if r, ok := eng.Route(n); ok {
				routes = append(routes, r)
			}
		}
	} else {
		var err error
		if routes, err = eng.Match(ctx, ev, only); errors.Is(err, engine.ErrNoRoute) {
			c.log.Warn("event names a route the controller does not have", "route", only, "event_id", ev.ID)
			return nil
		} else if err != nil {
			return err
		}
	}
	if ev.From != "" {
		c.metrics.EventsReceived.WithLabelValues(metrics.SourceUpstream).Inc()
	}
	ms, err := eng.Render(ctx, ev, routes)
	if err != nil {
		return err
	}
	c.stats.matched(ms)
	send, _, err := c.plugins.Apply(ctx, eng, ms)
	if err != nil {
		return err
	}
	return c.handleSent(ctx, eng, send, replay)
}

// handleSent dispatches the runner steps of what the plugins stage sends
// and runs the controller's own, then releases aggregated batches.
func (c *Controller) handleSent(ctx context.Context, eng *engine.Engine, ms []engine.Match, replay bool) error {
	var errs []error
	for _, m := range ms {
		if err := c.dispatch(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // handled again (and logged) by the caller: what was queued is not queued twice
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var again []error
	run := func(m engine.Match, local []engine.Step) {
		// Failed actions were logged and counted; a step that did not
		// start, or that another controller started, brings the event
		// back (steps done are not run again).
		if err := engine.Unfinished(c.exec.RunSteps(ctx, eng, m, local)); err != nil {
			mu.Lock()
			again = append(again, err)
			mu.Unlock()
		}
	}
	var last func()
	for _, m := range ms {
		if local := eng.LocalSteps(m.Route); len(local) > 0 {
			m.Fresh = !replay && !m.Aggregated()
			if last != nil {
				wg.Go(last)
			}
			last = func() { run(m, local) }
		}
	}
	if last != nil {
		last() // in this goroutine: its stack has grown already
	}
	wg.Wait()
	if len(again) > 0 {
		return errors.Join(again...)
	}
	c.plugins.Done(ctx, ms)
	return nil
}

func (c *Controller) serveRunners(w http.ResponseWriter, _ *http.Request) {
	list := []RunnerInfo{}
	if c.fleet != nil {
		list = c.fleet.list(context.Background())
	}
	writeJSON(w, list)
}
