package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/daemon"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/jsstate"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// RunnerInfo is the fleet view of one runner.
type RunnerInfo struct {
	Name           string    `json:"name"`
	Host           string    `json:"host"`
	MachineID      string    `json:"machine_id,omitempty"`
	Version        string    `json:"version"`
	ConfigRevision int64     `json:"config_revision"`
	ConfigCurrent  bool      `json:"config_current"`
	LastHeartbeat  time.Time `json:"last_heartbeat"`
	Connected      bool      `json:"connected"`
	PendingWork    uint64    `json:"pending_work"`
	Spooled        int64     `json:"spooled"`
	Intake         []string  `json:"intake,omitempty"`
	// Hosts are the host names the runner may act for (@origin): its
	// certificate's, and the controller's origin-hosts.
	Hosts []string `json:"hosts,omitempty"`
}

// fleetDeps are what the fleet needs of the controller.
type fleetDeps struct {
	Settings Settings
	Logger   *slog.Logger
	ID       string                // this controller, in the shared state
	Engine   func() *engine.Engine // the engine in use
	Config   *configState
	Gate     *daemon.Gate // a stop waits for the events in progress
	Stats    *stats
	// Stages sets up the plugins and executor on the fleet's state, before
	// any event is taken; alive tells whether another controller is live.
	Stages  func(st *jsstate.State, alive func(id string) bool) error
	Version string
	// Handle processes an event: from the HTTP intake's stream, or reported
	// by a runner (From, FromRan, Host set); replay says it may have been
	// handled in part before.
	Handle  func(ctx context.Context, ev *engine.Event, only string, routes []string, rev int64, replay bool) error
	Timings Timings // with the defaults filled
}

// fleet is the controller's side of the runner channel: the runner
// registry, work dispatch, and the streams of events it handles. Its state
// is in JetStream (see jsstate), shared with the other controllers.
type fleet struct {
	d    fleetDeps
	log  *slog.Logger
	bus  *bus
	work *workers // handle the events, at most 256 at once

	parsed parsedEvents // events this controller stored, parsed

	consumers []jetstream.ConsumeContext
	watchers  []jetstream.KeyWatcher

	mu       sync.Mutex
	known    map[string]bool          // guarded by mu: work consumers known to exist
	runners  map[string]runnerEntry   // guarded by mu: the registry, as watched
	written  map[string]time.Time     // guarded by mu: when this controller last wrote an entry
	hosts    map[string][]string      // guarded by mu: runner → hosts its certificate names
	full     map[string]string        // guarded by mu: runner → why its queue refused the last job
	pending  map[string]uint64        // guarded by mu: jobs queued per runner (refreshed)
	mismatch string                   // guarded by mu: why cfg.yaml differs from the published revision
	ctls     map[string]time.Time     // guarded by mu: controller id → when the servers last stored its liveness
	sliceSet map[string]*sliceVersion // guarded by mu: the slice published per runner, this revision
}

// runnerEntry is a runner's registry entry (RunnerBucket).
type runnerEntry struct {
	transport.Status
	Seen time.Time `json:"seen"` // when a controller last wrote it from a heartbeat
}

func (c *Controller) fleetEnabled() bool {
	s := c.opts.Settings
	return s.ControllerMode || s.ControllerURL != "" || s.External()
}

func listenAddr(u string) (string, error) {
	if u == "" {
		return natsd.DefaultListen, nil
	}
	if !strings.Contains(u, "://") {
		return u, nil
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "", fmt.Errorf("controller-url %q: want nats://HOST:PORT", u)
	}
	return p.Host, nil
}

// maxPayload fits a job (event plus rendered message, typically no more
// than three times the event) for the largest event accepted: between
// 8 MiB and nats-server's hard limit of 64 MiB.
func maxPayload(bodyLimit int64) int32 {
	return int32(min(max(3*bodyLimit+(1<<20), 8<<20), 64<<20))
}

func startFleet(ctx context.Context, d fleetDeps) (*fleet, error) {
	f := &fleet{d: d, log: d.Logger, work: newWorkers(256, d.Timings.WorkerIdle), known: map[string]bool{}, runners: map[string]runnerEntry{},
		written: map[string]time.Time{}, hosts: map[string][]string{}, full: map[string]string{}, pending: map[string]uint64{},
		sliceSet: map[string]*sliceVersion{}, ctls: map[string]time.Time{}}
	var err error
	if f.bus, err = openBus(ctx, d.Settings, d.Timings, d.ID, d.Logger, f.admitted); err != nil {
		return nil, err
	}
	if err := f.start(ctx); err != nil {
		f.close()
		return nil, err
	}
	d.Logger.Info("runner channel up", "nats", f.bus.clientURL(), "external", d.Settings.External())
	return f, nil
}

func (f *fleet) start(ctx context.Context) error {
	if err := f.d.Stages(f.bus.state, f.controllerAlive); err != nil {
		return err
	}
	if err := f.follow(ctx); err != nil {
		return err
	}
	if err := retryJS(ctx, f.log, f.d.Timings, func() error { return f.loadConsumers(ctx) }); err != nil {
		return err
	}
	// Requests and heartbeats go to one controller of the queue group each.
	subs := map[string]nats.MsgHandler{
		transport.AllCfgGet:    f.onCfgGet,
		transport.AllHeartbeat: f.onHeartbeat,
		transport.AllResults:   f.onResult,
	}
	for subj, h := range subs {
		if _, err := f.bus.nc.QueueSubscribe(subj, queueGroup, h); err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
	}
	if f.d.Settings.External() {
		if err := f.serveAuthCallout(); err != nil {
			return err
		}
	}
	if err := f.d.Config.publishStartup(ctx, f); err != nil {
		return err
	}
	if err := f.consume(ctx, transport.UpStream, upConsumer, f.onUp); err != nil {
		return err
	}
	if err := f.consume(ctx, natsd.EventsStream, eventsConsumer, f.onEvent); err != nil {
		return err
	}
	go f.refreshPending(context.WithoutCancel(ctx))
	go f.announce(context.WithoutCancel(ctx))
	return nil
}

type ctlEntry struct {
	Host    string `json:"host"`
	Version string `json:"version"`
}

// announce keeps this controller's liveness entry until the connection
// closes; a clean stop deletes it (see close). Each controller rewrites its
// entry every ControllerRefresh; one whose entry is older than
// ControllerLive is gone, and the actions it left started follow their
// on-crash policy elsewhere.
func (f *fleet) announce(ctx context.Context) {
	host, _ := os.Hostname()
	b, _ := json.Marshal(ctlEntry{Host: host, Version: f.d.Version})
	t := time.NewTicker(f.d.Timings.ControllerRefresh)
	defer t.Stop()
	closed := f.bus.nc.StatusChanged(nats.CLOSED)
	for {
		pctx, cancel := context.WithTimeout(ctx, f.d.Timings.Announce)
		if _, err := f.bus.state.Controllers.Put(pctx, f.d.ID, b); err != nil && f.bus.nc.IsConnected() {
			f.log.Warn("controller liveness not recorded", logx.Err(err))
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-t.C:
		}
	}
}

func (f *fleet) onController(e jetstream.KeyValueEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(f.ctls, e.Key())
		return
	}
	f.ctls[e.Key()] = e.Created()
}

// controllerAlive reports whether controller id is live.
func (f *fleet) controllerAlive(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen, ok := f.ctls[id]
	return ok && time.Since(seen) < f.d.Timings.ControllerLive
}

// liveControllers counts the controllers sharing the fleet now.
func (f *fleet) liveControllers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, seen := range f.ctls {
		if time.Since(seen) < f.d.Timings.ControllerLive {
			n++
		}
	}
	return n
}

// queueGroup is the controllers' group for what one of them must handle.
const queueGroup = "posteed-controllers"

// follow watches the registry, the hosts and the published config into
// this controller's view.
func (f *fleet) follow(ctx context.Context) error {
	st := f.bus.state
	for _, w := range []struct {
		kv jetstream.KeyValue
		fn func(jetstream.KeyValueEntry)
	}{{st.Runners, f.onRegistry}, {st.Hosts, f.onHosts}, {st.Controllers, f.onController}, {st.Config, f.d.Config.onPublished(f)}} {
		var watcher jetstream.KeyWatcher
		err := retryJS(ctx, f.log, f.d.Timings, func() (err error) {
			watcher, err = w.kv.WatchAll(context.WithoutCancel(ctx))
			return err
		})
		if err != nil {
			return fmt.Errorf("watch %s: %w", w.kv.Bucket(), err)
		}
		f.watchers = append(f.watchers, watcher)
		ready := make(chan struct{})
		go func() {
			for e := range watcher.Updates() {
				if e == nil {
					close(ready) // the current values are in
					continue
				}
				w.fn(e)
			}
		}()
		select { // start with the whole view
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fleet) onRegistry(e jetstream.KeyValueEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var re runnerEntry
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &re) != nil || re.Runner != e.Key() {
		delete(f.runners, e.Key())
		return
	}
	f.runners[e.Key()] = re
}

func (f *fleet) onHosts(e jetstream.KeyValueEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hosts []string
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &hosts) != nil {
		delete(f.hosts, e.Key())
		return
	}
	f.hosts[e.Key()] = hosts
}

// admitted records the hosts a runner's verified certificate names, when
// they changed: only those (and origin-hosts) entitle it to @origin work.
func (f *fleet) admitted(runner string, hosts []string) {
	for i := range hosts {
		hosts[i] = strings.ToLower(hosts[i])
	}
	sort.Strings(hosts)
	f.mu.Lock()
	same := slices.Equal(f.hosts[runner], hosts)
	f.mu.Unlock()
	if same {
		return
	}
	b, _ := json.Marshal(hosts)
	ctx, cancel := context.WithTimeout(context.Background(), f.d.Timings.Request)
	defer cancel()
	if _, err := f.bus.state.Hosts.Put(ctx, runner, b); err != nil {
		f.log.Error("hosts of runner not recorded", "runner", runner, logx.Err(err))
	}
}

// loadConsumers learns which runners' work consumers exist.
func (f *fleet) loadConsumers(ctx context.Context) error {
	st, err := f.bus.js.Stream(ctx, transport.WorkStream)
	if err != nil {
		return err
	}
	names := st.ConsumerNames(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range names.Name() {
		f.known[n] = true
	}
	return names.Err()
}

// consume handles stream's messages with the durable consumer name, shared
// by every controller: each message goes to one of them.
func (f *fleet) consume(ctx context.Context, stream, name string, h func(jetstream.Msg)) error {
	want := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: f.d.Timings.EventAckWait, MaxAckPending: 1024,
		Replicas: f.d.Settings.Replicas(),
	}
	var cons jetstream.Consumer
	err := retryJS(ctx, f.log, f.d.Timings, func() error {
		// Another controller made it already, most times: reading it asks
		// the consumer's leader, not the cluster's meta leader.
		c, err := f.bus.js.Consumer(ctx, stream, name)
		if err == nil && sameConsumer(c.CachedInfo().Config, want) {
			cons = c
			return nil
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		cons, err = f.bus.js.CreateOrUpdateConsumer(ctx, stream, want)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s consumer: %w", stream, err)
	}
	cc, err := cons.Consume(h, jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("consume %s: %w", stream, err)
	}
	f.consumers = append(f.consumers, cc)
	return nil
}

// sameConsumer: the settings consume sets are what the consumer has.
func sameConsumer(have, want jetstream.ConsumerConfig) bool {
	return have.AckPolicy == want.AckPolicy && have.AckWait == want.AckWait &&
		have.MaxAckPending == want.MaxAckPending && max(have.Replicas, 1) == max(want.Replicas, 1)
}

// The durable consumers the controllers share; one of them may hold an
// event for Timings.EventAckWait before another gets it (a keep-alive
// extends it while its actions run).
const (
	upConsumer     = "controller"
	eventsConsumer = "controllers"
)

// stopConsuming stops taking events; those not fetched stay in their
// streams for the next start, or another controller.
func (f *fleet) stopConsuming() {
	for _, cc := range f.consumers {
		cc.Stop()
	}
	for _, cc := range f.consumers {
		<-cc.Closed()
	}
}

func (f *fleet) close() {
	f.stopConsuming()
	ctx, cancel := context.WithTimeout(context.Background(), f.d.Timings.Goodbye)
	_ = f.bus.state.Controllers.Delete(ctx, f.d.ID) // gone: nothing it started is left to it
	cancel()
	for _, w := range f.watchers {
		_ = w.Stop()
	}
	f.work.stop()
	f.bus.close()
}

// refuse logs a runner message that is malformed or names another sender.
func (f *fleet) refuse(kind, runner string, err error) {
	f.log.Warn("runner message refused: not a well-formed "+kind+" from the subject's runner", "runner", runner, logx.Err(err))
}

func (f *fleet) onHeartbeat(m *nats.Msg) {
	var st transport.Status
	runner, err := transport.Decode(m.Subject, m.Data, &st, func() string { return st.Runner })
	if err != nil {
		f.refuse("heartbeat", runner, err)
		return
	}
	now := time.Now()
	f.mu.Lock()
	prev, known := f.runners[runner]
	refresh := f.d.Timings.RegistryRefresh
	due := !known || changed(prev.Status, st) || now.Sub(f.written[runner]) >= refresh || now.Sub(prev.Seen) >= refresh
	if due {
		f.written[runner] = now
	}
	f.mu.Unlock()
	if !due {
		return
	}
	st.Time = now // the controllers' clock, not the runner's
	entry := runnerEntry{Status: st, Seen: now}
	b, _ := json.Marshal(entry)
	ctx, cancel := context.WithTimeout(context.Background(), f.d.Timings.Request)
	defer cancel()
	if _, err := f.bus.state.Runners.Put(ctx, runner, b); err != nil {
		f.log.Error("runner registry not updated", "runner", runner, logx.Err(err))
		return
	}
	f.mu.Lock()
	f.runners[runner] = entry // this controller's view, before the watch brings it
	f.mu.Unlock()
	switch {
	case st.Stopping:
		f.log.Info("runner stopped", "runner", runner, "host", st.Host)
	case !known || prev.Stopping || now.Sub(prev.Seen) >= f.d.Timings.ConnectedWindow:
		if err := f.ensureConsumer(ctx, runner); err != nil {
			f.log.Error("work queue for runner", "runner", runner, logx.Err(err))
		}
		f.ensureSlice(ctx, runner)
		f.log.Info("runner connected", "runner", runner, "host", st.Host, "version", st.Version, "config_revision", st.ConfigRevision)
	}
	if st.ConfigRevision != prev.ConfigRevision {
		f.d.Config.noteApplied(f)
	}
}

// changed reports a status worth writing at once: all but the spool count
// and the time.
func changed(a, b transport.Status) bool {
	return a.Host != b.Host || a.MachineID != b.MachineID || a.Version != b.Version || a.ConfigRevision != b.ConfigRevision ||
		a.ConfigDigest != b.ConfigDigest || a.Stopping != b.Stopping || !slices.Equal(a.Intake, b.Intake)
}

func (f *fleet) onResult(m *nats.Msg) {
	var o transport.Outcome
	runner, err := transport.Decode(m.Subject, m.Data, &o, func() string { return o.Runner })
	if err != nil {
		f.refuse("result", runner, err)
		return
	}
	f.mu.Lock()
	if f.pending[runner] > 0 { // until the next count from the stream
		f.pending[runner]--
	}
	f.mu.Unlock()
	log := f.log.With("runner", runner, "route", o.Route, "event_id", o.EventID)
	switch {
	case o.Error != "":
		// The runner redacted its secrets; the controller's copy of the
		// config knows the same values, so a runner that did not is covered.
		log.Warn("runner work failed", slog.String(logx.ErrorKey, f.d.Engine().Redact(o.Error)))
	case o.Repeated:
		log.Info("runner work was already done; not repeated")
	default:
		log.Debug("runner work done")
	}
}

// keepAlive tells JetStream a message is still being worked on.
func keepAlive(m jetstream.Msg, every time.Duration) (stop func()) {
	k := &keeper{m: m, every: every}
	k.mu.Lock()
	k.t = time.AfterFunc(every, k.fire) // a timer, not a goroutine per message
	k.mu.Unlock()
	return k.stop
}

type keeper struct {
	m       jetstream.Msg
	every   time.Duration
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (k *keeper) fire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.stopped { // nothing after the stop returned
		_ = k.m.InProgress()
		k.t.Reset(k.every)
	}
}

func (k *keeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.t.Stop()
}

// onUp handles an event a runner reported: the controller's actions of the
// matching routes run here, other runners' actions are dispatched; the
// reporting runner ran its own already. Acked once handled.
func (f *fleet) onUp(m jetstream.Msg) {
	f.handleMsg(m, func(ctx context.Context, replay bool) error {
		var env transport.Envelope
		runner, err := transport.Decode(m.Subject(), m.Data(), &env, func() string { return env.Runner })
		if err != nil {
			f.refuse("upstream envelope", runner, err)
			return errTerminal
		}
		ev, err := engine.ParseEvent(env.Event, env.EventID)
		if err != nil {
			f.log.Error("bad upstream event", "runner", runner, "event_id", env.EventID, logx.Err(err))
			return errTerminal
		}
		if env.Host != "" {
			ev.Host = env.Host
		}
		ev.From, ev.FromRan = runner, env.Revision > 0
		f.log.Info("event from runner", "runner", runner, "host", env.Host, "event_id", ev.ID)
		return f.d.Handle(ctx, ev, env.Route, nil, 0, replay)
	})
}

// errTerminal marks a message no retry will ever handle: it is dropped.
var errTerminal = errors.New("unreadable message")

// handleMsg runs fn for a stream message on one of the workers,
// keeps the message alive while it runs, and acks it, or hands it back
// after a pause when fn failed for a reason that may pass.
func (f *fleet) handleMsg(m jetstream.Msg, fn func(ctx context.Context, replay bool) error) {
	if f.d.Gate.Enter() != nil { // stopping: it stays queued
		_ = m.Nak()
		return
	}
	f.work.Go(func() {
		defer f.d.Gate.Leave()
		stop := keepAlive(m, f.d.Timings.KeepAlive)
		defer stop()
		replay := true
		if md, err := m.Metadata(); err == nil {
			replay = md.NumDelivered > 1
		}
		err := fn(context.Background(), replay)
		switch {
		case errors.Is(err, errTerminal):
			_ = m.Term()
		case errors.Is(err, engine.ErrElsewhere) && !errors.Is(err, engine.ErrNotStarted):
			// Another controller started one of its actions and is live:
			// it finishes that step when the event reaches it.
			f.log.Debug("event left to the controller that started its action", logx.Err(err))
			_ = m.NakWithDelay(f.d.Timings.ElsewhereRetry)
		case err != nil:
			f.log.Warn("event not handled yet; trying again", logx.Err(err))
			_ = m.NakWithDelay(f.d.Timings.EventRetry)
		default:
			_ = m.Ack()
		}
	})
}

func (f *fleet) ensureConsumer(ctx context.Context, runner string) error {
	f.mu.Lock()
	ok := f.known[runner]
	f.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := natsd.EnsureRunnerConsumer(ctx, f.bus.js, runner, f.d.Timings.WorkAckWait); err != nil {
		return err
	}
	f.mu.Lock()
	f.known[runner] = true
	f.mu.Unlock()
	return nil
}

// runnerOnHost is the runner entitled to act for host (@origin): one whose
// certificate names the host, or origin-hosts maps to it; a connected one
// first, the first by name among equals ("" when none).
func (f *fleet) runnerOnHost(host string) string {
	host = strings.ToLower(host)
	f.mu.Lock()
	defer f.mu.Unlock()
	var entitled []string
	for runner, hosts := range f.hosts {
		if slices.Contains(hosts, host) {
			entitled = append(entitled, runner)
		}
	}
	for h, runner := range f.d.Settings.OriginHosts {
		if strings.EqualFold(h, host) && !slices.Contains(entitled, runner) {
			entitled = append(entitled, runner)
		}
	}
	sort.Strings(entitled)
	for _, r := range entitled {
		if e, ok := f.runners[r]; ok && f.connected(e) {
			return r
		}
	}
	if len(entitled) > 0 {
		return entitled[0] // down: its work waits in its queue
	}
	return ""
}

// connected: the runner's entry is fresh (see Timings.ConnectedWindow)
// and it did not say goodbye.
func (f *fleet) connected(e runnerEntry) bool {
	return !e.Stopping && !e.Seen.IsZero() && time.Since(e.Seen) < f.d.Timings.ConnectedWindow
}

// hostsOf are the hosts runner may act for.
func (f *fleet) hostsOf(runner string) []string {
	out := slices.Clone(f.hosts[runner]) // caller holds mu
	for h, r := range f.d.Settings.OriginHosts {
		if r == runner {
			out = append(out, strings.ToLower(h))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// names are every runner the config names or the registry holds, sorted.
func (f *fleet) names() []string {
	names := runnersOf(f.d.Engine())
	f.mu.Lock()
	for n := range f.runners {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	f.mu.Unlock()
	sort.Strings(names)
	return names
}

func (f *fleet) list(_ context.Context) []RunnerInfo {
	names := f.names()
	rev := f.d.Config.revision()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]RunnerInfo, 0, len(names))
	for _, n := range names {
		e := f.runners[n]
		out = append(out, RunnerInfo{Name: n, Host: e.Host, MachineID: e.MachineID, Version: e.Version,
			ConfigRevision: e.ConfigRevision, ConfigCurrent: e.ConfigRevision == rev, LastHeartbeat: e.Seen,
			Spooled: e.Spooled, Intake: e.Intake, Connected: f.connected(e), PendingWork: f.pending[n], Hosts: f.hostsOf(n)})
	}
	return out
}

// counts are the runners connected and those running the revision in force.
func (f *fleet) counts() (connectedN, current int) {
	rev := f.d.Config.revision()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.runners {
		if f.connected(e) {
			connectedN++
			if e.ConfigRevision == rev {
				current++
			}
		}
	}
	return connectedN, current
}

func (f *fleet) summary() string {
	n, _ := f.counts()
	s := fmt.Sprintf("%d runners connected", n)
	if f.d.Settings.External() {
		s = fmt.Sprintf("%d controllers, %s", f.liveControllers(), s)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.full) > 0 {
		s += fmt.Sprintf(", %d work queues full", len(f.full))
	}
	if f.mismatch != "" {
		s += ", " + f.mismatch
	}
	return s
}

func (f *fleet) health() error {
	if !f.bus.nc.IsConnected() {
		return errors.New("controller lost its NATS connection")
	}
	if full := f.fullQueues(); len(full) > 0 {
		return errors.New(strings.Join(full, "; "))
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
