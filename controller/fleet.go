package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/daemon"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// workAckWait is how long a runner may stay silent on a job before JetStream
// hands it out again: after a runner crash its unfinished work comes back
// this soon. A runner working on a long job says so every 10 s.
const workAckWait = 30 * time.Second

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
}

// fleet is the controller's side of the runner channel.
type fleet struct {
	d   fleetDeps
	log *slog.Logger
	srv *natsd.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	up  jetstream.ConsumeContext
	sem chan struct{} // bounds upstream events processed at once

	mu        sync.Mutex
	status    map[string]transport.Status // guarded by mu; by runner name
	consumers map[string]bool             // guarded by mu; work consumers known to exist
	slices    map[string]*transport.Slice // guarded by mu; current slice per runner
	hosts     map[string]string           // guarded by mu; host name (lower case) → runner, for @origin
	full      map[string]string           // guarded by mu; runner → why its work queue refused the last job
}

// fleetDeps are what the fleet needs of the controller.
type fleetDeps struct {
	Settings Settings
	Logger   *slog.Logger
	Engine   func() *engine.Engine // the engine in use
	Revision func() int64          // the config revision in use
	Epoch    string
	Gate     *daemon.Gate // a stop waits for the runner events in progress
	Stats    *stats
	// Upstream handles the matches of an event a runner reported.
	Upstream func(ctx context.Context, eng *engine.Engine, ms []engine.Match) error
}

func (c *Controller) fleetDeps() fleetDeps {
	return fleetDeps{Settings: c.opts.Settings, Logger: c.log, Engine: c.Engine, Revision: c.rev.Load, Epoch: c.epoch,
		Gate: &c.gate, Stats: c.stats, Upstream: c.handle}
}

func (c *Controller) fleetEnabled() bool {
	return c.opts.Settings.ControllerMode || c.opts.Settings.ControllerURL != ""
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
	s := d.Settings
	listen, err := listenAddr(s.ControllerURL)
	if err != nil {
		return nil, err
	}
	shared, err := s.sharedNKey()
	if err != nil {
		return nil, err
	}
	srv, err := natsd.Start(ctx, natsd.Options{
		Listen: listen, StoreDir: filepath.Join(s.StateDir, "jetstream"),
		CertFile: s.ControllerTLSCert, KeyFile: s.ControllerTLSKey, CAFile: s.ControllerCARoot,
		RunnerNKeys: s.RunnerNKeys, SharedNKey: shared,
		InsecureNoAuth: s.InsecureNoAuth, Logger: d.Logger.With("component", "nats"),
		MaxPayload: maxPayload(s.BodyLimit),
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	f := &fleet{d: d, log: d.Logger, srv: srv, sem: make(chan struct{}, 64), status: map[string]transport.Status{}, consumers: map[string]bool{}, slices: map[string]*transport.Slice{}, hosts: map[string]string{}, full: map[string]string{}}
	if err := f.connect(ctx); err != nil {
		srv.Shutdown()
		return nil, err
	}
	d.Logger.Info("runner channel up", "nats", srv.Addr().String(), "tls", s.ControllerTLSCert != "")
	return f, nil
}

func (f *fleet) connect(ctx context.Context) error {
	nc, err := f.srv.ConnectController()
	if err != nil {
		return err
	}
	f.nc = nc
	if f.js, err = jetstream.New(nc); err != nil {
		return err
	}
	if err := natsd.EnsureStreams(ctx, f.js, f.d.Settings.limits()); err != nil {
		return err
	}
	subs := map[string]nats.MsgHandler{
		transport.AllCfgGet:    f.onCfgGet,
		transport.AllHeartbeat: f.onHeartbeat,
		transport.AllResults:   f.onResult,
	}
	for subj, h := range subs {
		if _, err := nc.Subscribe(subj, h); err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
	}
	cons, err := f.js.CreateOrUpdateConsumer(ctx, transport.UpStream, jetstream.ConsumerConfig{
		Durable: "controller", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Minute, MaxAckPending: 1024,
	})
	if err != nil {
		return fmt.Errorf("upstream consumer: %w", err)
	}
	if f.up, err = cons.Consume(f.onUp); err != nil {
		return fmt.Errorf("consume upstream: %w", err)
	}
	f.publishAll(ctx)
	return nil
}

// stopUpstream stops taking runner events; those not fetched stay in the
// stream for the next start.
func (f *fleet) stopUpstream() {
	if f.up != nil {
		f.up.Stop()
	}
}

// keepAlive tells JetStream a message is still being worked on.
func keepAlive(m jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

func (f *fleet) close() {
	if f.up != nil {
		f.up.Stop()
		<-f.up.Closed()
	}
	if f.nc != nil {
		_ = f.nc.Drain()
	}
	f.srv.Shutdown()
}

// refuse logs a runner message that is malformed or names another sender:
// a runner reflecting a JetStream API response, or re-routing a job, onto
// another runner's subject.
func (f *fleet) refuse(kind, runner string, err error) {
	f.log.Warn("runner message refused: not a well-formed "+kind+" from the subject's runner", "runner", runner, logx.Err(err))
}

// slice returns (and caches per revision) runner's slice.
func (f *fleet) slice(runner string) (*transport.Slice, error) {
	rev := f.d.Revision()
	f.mu.Lock()
	cached := f.slices[runner]
	f.mu.Unlock()
	if cached != nil && cached.Revision == rev {
		return cached, nil
	}
	s, err := buildSlice(f.d.Engine(), runner, rev, f.d.Epoch)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.slices[runner] = s
	f.mu.Unlock()
	return s, nil
}

func (f *fleet) onCfgGet(m *nats.Msg) {
	var req transport.CfgRequest
	runner, err := transport.Decode(m.Subject, m.Data, &req, func() string { return req.Runner })
	if err != nil {
		f.refuse("config request", runner, err)
		return
	}
	if !transport.ReplyAllowed(m.Reply) {
		f.log.Warn("config request with a reply subject outside the runner's inbox refused", "runner", runner, "reply", m.Reply)
		return
	}
	s, err := f.slice(runner)
	if err != nil {
		f.log.Error("config slice", "runner", runner, logx.Err(err))
		return
	}
	b, _ := json.Marshal(s)
	_ = m.Respond(b)
}

// publishAll pushes the current slice to every runner the config names and
// every runner seen, so each applies it without asking.
func (f *fleet) publishAll(ctx context.Context) {
	names := runnersOf(f.d.Engine())
	f.mu.Lock()
	for n := range f.status {
		if !contains(names, n) {
			names = append(names, n)
		}
	}
	f.mu.Unlock()
	for _, n := range names {
		if err := f.ensureConsumer(ctx, n); err != nil {
			f.log.Error("work queue for runner", "runner", n, logx.Err(err))
		}
		s, err := f.slice(n)
		if err != nil {
			f.log.Error("config slice", "runner", n, logx.Err(err))
			continue
		}
		b, _ := json.Marshal(s)
		if err := f.nc.Publish(transport.CfgPush(n), b); err != nil {
			f.log.Error("push config", "runner", n, logx.Err(err))
		}
	}
	_ = f.nc.FlushWithContext(ctx)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *fleet) onHeartbeat(m *nats.Msg) {
	var st transport.Status
	runner, err := transport.Decode(m.Subject, m.Data, &st, func() string { return st.Runner })
	if err != nil {
		f.refuse("heartbeat", runner, err)
		return
	}
	st.Time = time.Now()
	f.mu.Lock()
	prev, known := f.status[st.Runner]
	f.status[st.Runner] = st
	conflict := f.claimHost(st, prev)
	f.mu.Unlock()
	if conflict != "" && (!known || !strings.EqualFold(prev.Host, st.Host)) {
		f.log.Warn("runner reports a host name another live runner holds; origin work for that host stays with the first", "runner", st.Runner, "host", st.Host, "holder", conflict)
	}
	if !known {
		if err := f.ensureConsumer(context.Background(), st.Runner); err != nil {
			f.log.Error("work queue for runner", "runner", st.Runner, logx.Err(err))
		}
		f.log.Info("runner connected", "runner", st.Runner, "host", st.Host, "version", st.Version, "config_revision", st.ConfigRevision)
	}
}

func (f *fleet) onResult(m *nats.Msg) {
	var o transport.Outcome
	runner, err := transport.Decode(m.Subject, m.Data, &o, func() string { return o.Runner })
	if err != nil {
		f.refuse("result", runner, err)
		return
	}
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

// onUp handles an event a runner reported: the controller's actions of the
// matching routes run here, other runners' actions are dispatched; the
// reporting runner ran its own already. Acked once handled.
func (f *fleet) onUp(m jetstream.Msg) {
	if f.d.Gate.Enter() != nil { // stopping: it stays queued for the next start
		_ = m.Nak()
		return
	}
	f.sem <- struct{}{}
	go func() {
		defer func() { <-f.sem; f.d.Gate.Leave() }()
		stop := keepAlive(m, time.Minute) // slow actions must not outlast the ack wait
		defer stop()
		var env transport.Envelope
		runner, err := transport.Decode(m.Subject(), m.Data(), &env, func() string { return env.Runner })
		if err != nil {
			f.refuse("upstream envelope", runner, err)
			_ = m.Term()
			return
		}
		ev, err := engine.ParseEvent(env.Event, env.EventID)
		if err != nil {
			f.log.Error("bad upstream event", "runner", runner, "event_id", env.EventID, logx.Err(err))
			_ = m.Term()
			return
		}
		if env.Host != "" {
			ev.Host = env.Host
		}
		ev.From, ev.FromRan = runner, env.Revision > 0
		ctx := context.Background()
		eng := f.d.Engine()
		ms, err := eng.Evaluate(ctx, ev, env.Route)
		if errors.Is(err, engine.ErrNoRoute) {
			f.log.Warn("event from runner names a route the controller does not have", "runner", runner, "route", env.Route, "event_id", ev.ID)
			_ = m.Ack()
			return
		}
		if err != nil {
			f.log.Error("upstream event", "runner", runner, "event_id", ev.ID, logx.Err(err))
			_ = m.Term()
			return
		}
		f.log.Info("event from runner", "runner", runner, "host", env.Host, "event_id", ev.ID, "routes", len(ms))
		f.d.Stats.received(metrics.SourceUpstream, ms)
		if err := f.d.Upstream(ctx, eng, ms); err != nil {
			f.log.Error("upstream event not handled; it comes again", "runner", runner, "event_id", ev.ID, logx.Err(err))
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
	}()
}

// dispatch queues steps of m for runner, durably, with an idempotency key.
func (f *fleet) dispatch(ctx context.Context, runner string, m engine.Match, steps []engine.Step) error {
	if err := f.ensureConsumer(ctx, runner); err != nil {
		return err
	}
	job := transport.Job{
		Runner: runner, ID: m.Msg.EventID + "/" + m.Route.Name + "/" + runner, EventID: m.Msg.EventID, Route: m.Route.Name,
		Serialize: m.Route.Serialize, Title: m.Msg.Title, Body: m.Msg.Body, URL: m.Msg.URL, Event: m.Msg.Event,
		Revision: f.d.Revision(), Epoch: f.d.Epoch,
	}
	for _, s := range steps {
		job.Actions = append(job.Actions, s.Action)
	}
	b, err := transport.EncodeFor(f.nc, job)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(transport.Work(runner))
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, job.ID)
	_, err = f.js.PublishMsg(ctx, msg)
	if err = f.noteFull(runner, err); err != nil {
		return err
	}
	f.log.Info("work dispatched", "runner", runner, "route", m.Route.Name, "event_id", m.Msg.EventID, "actions", strings.Join(job.Actions, ","))
	return nil
}

// noteFull names the full queue in a refused publish and remembers it for
// /healthz and STATUS until the runner's queue takes a job again.
func (f *fleet) noteFull(runner string, err error) error {
	var why string
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "maximum messages per subject exceeded"):
			why = fmt.Sprintf("work queue %s of runner %s is full (runner-queue-max-messages)", transport.Work(runner), runner)
		case strings.Contains(msg, "maximum bytes exceeded"), strings.Contains(msg, "insufficient resources"):
			why = fmt.Sprintf("work stream %s is full (work-max-bytes), job for runner %s refused", transport.WorkStream, runner)
		default:
			return fmt.Errorf("queue work: %w", err)
		}
	}
	f.mu.Lock()
	if why == "" {
		delete(f.full, runner)
	} else {
		f.full[runner] = why
	}
	f.mu.Unlock()
	if why != "" {
		return fmt.Errorf("%s: %w", why, err)
	}
	return nil
}

// fullQueues are the reasons of the queues that refused their last job.
func (f *fleet) fullQueues() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.full))
	for _, why := range f.full {
		out = append(out, why)
	}
	sort.Strings(out)
	return out
}

func (f *fleet) ensureConsumer(ctx context.Context, runner string) error {
	f.mu.Lock()
	ok := f.consumers[runner]
	f.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := natsd.EnsureRunnerConsumer(ctx, f.js, runner, workAckWait); err != nil {
		return err
	}
	f.mu.Lock()
	f.consumers[runner] = true
	f.mu.Unlock()
	return nil
}

// claimHost maps st's host name to its runner for @origin routing. A host
// held by another runner that is still alive stays with it (the returned
// holder is logged): a runner cannot take over another host's work by
// reporting its name. Caller holds mu.
func (f *fleet) claimHost(st, prev transport.Status) (holder string) {
	host := strings.ToLower(st.Host)
	if old := strings.ToLower(prev.Host); old != "" && old != host && f.hosts[old] == st.Runner {
		delete(f.hosts, old)
	}
	if host == "" {
		return ""
	}
	if owner, ok := f.hosts[host]; ok && owner != st.Runner {
		if o, ok := f.status[owner]; ok && time.Since(o.Time) < 3*transport.HeartbeatInterval && strings.EqualFold(o.Host, host) {
			return owner
		}
	}
	f.hosts[host] = st.Runner
	return ""
}

func (f *fleet) runnerOnHost(host string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosts[strings.ToLower(host)]
}

func (f *fleet) list(ctx context.Context) []RunnerInfo {
	names := runnersOf(f.d.Engine())
	f.mu.Lock()
	for n := range f.status {
		if !contains(names, n) {
			names = append(names, n)
		}
	}
	status := make(map[string]transport.Status, len(f.status))
	for k, v := range f.status {
		status[k] = v
	}
	f.mu.Unlock()
	sort.Strings(names)
	rev := f.d.Revision()
	out := make([]RunnerInfo, 0, len(names))
	for _, n := range names {
		st := status[n]
		ri := RunnerInfo{Name: n, Host: st.Host, MachineID: st.MachineID, Version: st.Version, ConfigRevision: st.ConfigRevision,
			ConfigCurrent: st.ConfigRevision == rev, LastHeartbeat: st.Time, Spooled: st.Spooled, Intake: st.Intake,
			Connected: !st.Time.IsZero() && time.Since(st.Time) < 3*transport.HeartbeatInterval}
		if cons, err := f.js.Consumer(ctx, transport.WorkStream, n); err == nil {
			if info, err := cons.Info(ctx); err == nil {
				ri.PendingWork = info.NumPending + uint64(info.NumAckPending)
			}
		}
		out = append(out, ri)
	}
	return out
}

func (f *fleet) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, st := range f.status {
		if time.Since(st.Time) < 3*transport.HeartbeatInterval {
			n++
		}
	}
	if len(f.full) > 0 {
		return fmt.Sprintf("%d runners connected, %d work queues full", n, len(f.full))
	}
	return fmt.Sprintf("%d runners connected", n)
}

func (f *fleet) health() error {
	if !f.nc.IsConnected() {
		return fmt.Errorf("controller lost its own NATS connection")
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
