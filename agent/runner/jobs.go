package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/transport"
)

// jobs runs the work the controller queued for this runner (POSTEED_WORK,
// the durable consumer named after the runner): concurrently, as many at
// once as the executor runs actions, except that jobs of a route with
// serialize-actions run one after another in queue order. Each job is acked
// after its steps ran and were marked done, so a job redelivered after a
// crash runs only the steps not done yet.
type jobs struct {
	deps jobsDeps
	// redelivered counts jobs delivered more than once: JetStream's
	// count on the message, so it holds across restarts of the runner.
	redelivered metrics.Counter

	slots  chan struct{}          // jobs in progress (fetched, not yet acked)
	mu     sync.Mutex             // guards serial
	serial map[string]chan func() // route → its jobs, in order
	wg     sync.WaitGroup
}

type jobsDeps struct {
	Name    string
	Link    *link
	Config  *configSync
	Exec    *engine.Executor
	Marks   *fileMarks
	Metrics *metrics.Runner
	Logger  *slog.Logger
	StopBy  func() time.Time // when a stop must be done; zero: no stop under way
	// The Timings of the same names.
	WorkLookup, WorkRetry, UnfinishedRetry time.Duration
	PullExpiry, PullHeartbeat              time.Duration
	KeepAlive, Request, WorkDrain          time.Duration
}

var _ part = (*jobs)(nil)

func newJobs(d jobsDeps) *jobs {
	return &jobs{deps: d,
		redelivered: d.Metrics.WorkRedelivered.WithLabelValues(d.Name), // from 0: the first redelivery is an increase
		slots:       make(chan struct{}, d.Exec.Limit()), serial: map[string]chan func(){}}
}

// Run consumes until ctx is done, then hands back the jobs fetched but not
// started and waits (until the stop's deadline) for those in progress.
func (w *jobs) Run(ctx context.Context) {
	select { // work needs a config to run: none is fetched before
	case <-w.deps.Config.applied:
	case <-ctx.Done():
		return
	}
	d := w.deps
	WorkQueue{JS: d.Link.js, Name: d.Name, MaxMessages: cap(w.slots), Log: d.Logger,
		Take: func(m jetstream.Msg) { w.take(ctx, m) }, Stop: w.stop,
		WorkLookup: d.WorkLookup, WorkRetry: d.WorkRetry, PullExpiry: d.PullExpiry, PullHeartbeat: d.PullHeartbeat}.Run(ctx)
}

// stop drains rather than stops: jobs already fetched still reach take,
// which hands them back so they are redelivered as soon as the runner is
// back, and jobs in progress end before the connection closes.
func (w *jobs) stop(cc jetstream.ConsumeContext) {
	if w.deps.Link.connected() {
		cc.Drain()
	} else {
		cc.Stop() // a drain needs the server; unacked jobs come back after their ack wait
	}
	done := make(chan struct{})
	go func() { <-cc.Closed(); w.wg.Wait(); close(done) }()
	wait := w.deps.WorkDrain // without a stop under way: the runner failed
	if by := w.deps.StopBy(); !by.IsZero() {
		wait = min(wait, time.Until(by))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.deps.Logger.Warn("work in progress did not finish in time; it may run again after the restart")
	}
}

// take starts a job: at once, or after the jobs of its route before it
// when the route serializes its actions. It blocks while as many jobs as
// the executor's limit are in progress, so the consumer fetches no more.
func (w *jobs) take(ctx context.Context, m jetstream.Msg) {
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
		w.redelivered.Inc()
	}
	var job transport.Job
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		w.deps.Logger.Error("unreadable work dropped", logx.Err(err))
		_ = m.Term()
		return
	}
	if job.Runner != w.deps.Name {
		// Another runner re-routed it (or a JetStream API response) onto
		// this queue: never run, never hand back.
		w.deps.Logger.Warn("work addressed to another runner terminated without running", "route", job.Route, "event_id", job.EventID, "job_runner", job.Runner)
		_ = m.Term()
		return
	}
	if ctx.Err() != nil {
		_ = m.Nak() // stopping: not started, so handed back for the next start
		return
	}
	w.slots <- struct{}{}
	w.wg.Add(1)
	// From here on the job is in progress for JetStream, also while it
	// waits behind its route's earlier jobs.
	stop := keepAlive(m, w.deps.KeepAlive)
	run := func() {
		defer func() { stop(); <-w.slots; w.wg.Done() }()
		w.run(ctx, m, job)
	}
	if !job.Serialize {
		go run()
		return
	}
	w.mu.Lock()
	q, ok := w.serial[job.Route]
	if !ok {
		q = make(chan func(), 1024)
		w.serial[job.Route] = q
		go func() {
			for f := range q {
				f()
			}
		}()
	}
	w.mu.Unlock()
	q <- run
}

func (w *jobs) run(ctx context.Context, m jetstream.Msg, job transport.Job) {
	d := w.deps
	log := d.Logger.With("route", job.Route, "event_id", job.EventID)
	if d.Marks.Done(job.ID) { // recorded by an earlier release
		log.Info("work already executed; acked without running again")
		_ = m.Ack()
		d.Link.report(transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route, Repeated: true})
		return
	}
	eng, rev := d.Config.current()
	if missing := missingAction(eng, job.Actions); missing != "" {
		w.refuse(m, job, missing, rev)
		return
	}
	// A started job runs to its end even when the runner stops: cancelled
	// half-way and unacked, it would run again after the restart.
	err := d.Exec.RunSteps(context.WithoutCancel(ctx), eng, jobMatch(job), stepsOf(job))
	if again := engine.Unfinished(err); again != nil {
		// A step's start could not be recorded (a full disk): the job
		// comes back later, and the steps done are not run again.
		log.Warn("work not run yet; it is delivered again later", logx.Err(again))
		_ = m.NakWithDelay(d.UnfinishedRetry)
		return
	}
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.Request)
	_ = m.DoubleAck(ackCtx)
	cancel()
	o := transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route}
	if err != nil {
		o.Error = err.Error()
	}
	d.Link.report(o)
}

// missingAction is the first of actions eng does not have ("" when it has
// them all).
func missingAction(eng *engine.Engine, actions []string) string {
	for _, a := range actions {
		if eng == nil || !eng.Has(a) {
			return a
		}
	}
	return ""
}

// refuse handles a job naming an action this runner lacks: a runner at the
// job's revision or later will never have it, so the job is dropped and
// reported failed; otherwise the config naming the action is on its way and
// the job is tried again later. A job without a revision (0) is always
// retried.
func (w *jobs) refuse(m jetstream.Msg, job transport.Job, action string, rev int64) {
	log := w.deps.Logger.With("route", job.Route, "event_id", job.EventID, "action", action, "config_revision", rev, "job_revision", job.Revision)
	if job.Revision == 0 || rev < job.Revision {
		log.Warn("work names an action this runner's config does not have yet; retrying later")
		_ = m.NakWithDelay(w.deps.WorkRetry)
		return
	}
	err := fmt.Errorf("action %q is not in runner %s's config at revision %d", action, w.deps.Name, rev)
	log.Error("work dropped", logx.Err(err))
	_ = m.Term()
	w.deps.Link.report(transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route, Error: err.Error()})
}

// keepAlive tells JetStream every interval that a long job is still
// running.
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

// jobMatch is the match a job carries: the controller rendered it already.
func jobMatch(job transport.Job) engine.Match {
	input := sync.OnceValue(func() any {
		var v any
		dec := json.NewDecoder(bytes.NewReader(job.Event))
		dec.UseNumber()
		_ = dec.Decode(&v)
		return v
	})
	return engine.NewMatch(&engine.Route{Name: job.Route, Serialize: job.Serialize},
		action.Message{Title: job.Title, Body: job.Body, URL: job.URL, Event: job.Event, LazyInput: input,
			EventID: job.EventID, Route: job.Route}, nil)
}

func stepsOf(job transport.Job) []engine.Step {
	out := make([]engine.Step, len(job.Actions))
	for i, a := range job.Actions {
		out[i] = engine.Step{Action: a}
	}
	return out
}
