package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/intake/tracefile"
	"github.com/postee-fleet/posteed/agent/transport"
)

// consumeWork executes the work the controller queued for this runner, in
// order; each job is acked after its actions ran and its id was recorded.
func (r *Runner) consumeWork(ctx context.Context) {
	name := r.opts.Settings.Name
	for ctx.Err() == nil {
		cons, err := r.js.Consumer(ctx, transport.WorkStream, name)
		if err != nil {
			select { // the controller creates the queue with the first work or config
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
				continue
			}
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { r.onJob(ctx, m) }, jetstream.PullMaxMessages(8))
		if err != nil {
			r.log.Warn("cannot read work queue", logx.Err(err))
			time.Sleep(2 * time.Second)
			continue
		}
		<-ctx.Done()
		r.stopWork(cc)
		return
	}
}

// stopWork drains rather than stops: the jobs already fetched still reach
// onJob, which hands them back so they are redelivered as soon as the runner
// is back (a stopped consumer would leave them unacked until the ack wait
// runs out), and the job in progress ends before the connection and the
// done-log close.
func (r *Runner) stopWork(cc jetstream.ConsumeContext) {
	if !r.nc.IsConnected() {
		// A drain needs the server and would hold the stop until it gives
		// up; jobs fetched but not run come back after their ack wait.
		cc.Stop()
		return
	}
	cc.Drain()
	t := time.NewTimer(min(workDrainMax, time.Until(r.stopDeadline())))
	defer t.Stop()
	select {
	case <-cc.Closed():
	case <-t.C:
		r.log.Warn("work in progress did not finish in time; it may run again after the restart")
	}
}

// workDrainMax bounds the wait for a job in progress at shutdown: past the
// exec action's default timeout (60 s), and inside the stop's budget (see
// stopBudget), which bounds it further.
const workDrainMax = 70 * time.Second

func (r *Runner) onJob(ctx context.Context, m jetstream.Msg) {
	var job transport.Job
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		r.log.Error("unreadable work dropped", logx.Err(err))
		_ = m.Term()
		return
	}
	log := r.log.With("route", job.Route, "event_id", job.EventID)
	if job.Runner != r.opts.Settings.Name {
		// Another runner re-routed it (or a JetStream API response) onto
		// this queue: never run, never hand back.
		log.Warn("work addressed to another runner terminated without running", "job_runner", job.Runner)
		_ = m.Term()
		return
	}
	if ctx.Err() != nil {
		_ = m.Nak() // stopping: not started, so handed back for the next start
		return
	}
	if r.done.Has(job.ID) {
		log.Info("work already executed; acked without running again")
		_ = m.Ack()
		r.report(transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route, Repeated: true})
		return
	}
	eng, rev := r.current()
	if missing := missingAction(eng, job.Actions); missing != "" {
		r.refuseJob(m, job, missing, rev)
		return
	}
	stop := keepAlive(m)
	// A started job runs to its end even when the runner stops: cancelled
	// half-way and unacked, it would run again, whole, after the restart.
	ctx = context.WithoutCancel(ctx)
	err := eng.Run(ctx, r.jobMatch(job), stepsOf(job))
	stop()
	if derr := r.done.Add(job.ID); derr != nil {
		log.Error("cannot record executed work", logx.Err(derr))
	}
	ackCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = m.DoubleAck(ackCtx)
	cancel()
	o := transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route}
	if err != nil {
		o.Error = err.Error()
	}
	r.report(o)
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

// refuseJob handles a job naming an action this runner lacks: a runner at
// the job's revision or later will never have it, so the job is dropped and
// reported failed; otherwise the config naming the action is on its way and
// the job is tried again later. A job of a controller that sends no
// revision (0) is always retried.
func (r *Runner) refuseJob(m jetstream.Msg, job transport.Job, action string, rev int64) {
	log := r.log.With("route", job.Route, "event_id", job.EventID, "action", action, "config_revision", rev, "job_revision", job.Revision)
	// Revisions persist across controller restarts (its state directory),
	// so they compare across epochs too; only a job from before revisions
	// existed (0) is always retried.
	if job.Revision == 0 || rev < job.Revision {
		log.Warn("work names an action this runner's config does not have yet; retrying later")
		_ = m.NakWithDelay(2 * time.Second)
		return
	}
	log.Error("work names an action this runner's config does not have; dropped")
	_ = m.Term()
	r.report(transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route,
		Error: fmt.Sprintf("action %q is not in runner %s's config at revision %d", action, r.opts.Settings.Name, rev)})
}

// keepAlive tells JetStream a long job is still running.
func keepAlive(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second) // well inside the controller's 30 s ack wait
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

func (r *Runner) jobMatch(job transport.Job) engine.Match {
	var input any
	dec := json.NewDecoder(bytes.NewReader(job.Event))
	dec.UseNumber()
	_ = dec.Decode(&input)
	return engine.Match{
		Route: &engine.Route{Name: job.Route, Serialize: job.Serialize},
		Msg: action.Message{Title: job.Title, Body: job.Body, URL: job.URL, Event: job.Event, Input: input,
			EventID: job.EventID, Route: job.Route},
	}
}

func stepsOf(job transport.Job) []engine.Step {
	out := make([]engine.Step, len(job.Actions))
	for i, a := range job.Actions {
		out[i] = engine.Step{Action: a}
	}
	return out
}

func (r *Runner) report(o transport.Outcome) {
	o.Runner = r.opts.Settings.Name
	b, _ := json.Marshal(o)
	_ = r.nc.Publish(transport.Result(r.opts.Settings.Name), b)
}

// Accept implements webhook.Sink: the event is spooled for the controller
// (durably, before answering) and the runner's own routes run here.
func (r *Runner) Accept(ctx context.Context, raw []byte, route string) (string, []string, error) {
	r.metrics.EventsReceived.WithLabelValues(metrics.SourceWebhook).Inc()
	return r.take(ctx, raw, route, "")
}

func (r *Runner) take(ctx context.Context, raw []byte, route, id string) (string, []string, error) {
	ev, err := engine.ParseEvent(raw, id)
	if err != nil {
		return "", nil, err
	}
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return ev.ID, nil, ErrStopping
	}
	r.inflight.Add(1)
	r.mu.Unlock()
	var ms []engine.Match
	eng, rev := r.current()
	if eng != nil {
		ms, err = eng.Evaluate(ctx, ev, route)
		if errors.Is(err, engine.ErrNoRoute) {
			// Our slice holds only the routes with actions here; the
			// controller knows the others and decides.
			r.log.Debug("route not in this runner's config; passed to the controller", "route", route, "event_id", ev.ID)
			ms, err = nil, nil
		}
		if err != nil {
			r.inflight.Done()
			return ev.ID, nil, err
		}
	}
	env, err := transport.EncodeFor(r.nc, transport.Envelope{
		Runner: r.opts.Settings.Name, Host: r.opts.Hostname, MachineID: r.opts.MachineID,
		EventID: ev.ID, Received: time.Now().UTC(), Event: json.RawMessage(raw), // compacted onto one line
		Route: route, Revision: rev,
	})
	if err == nil {
		err = r.spool.Append(env)
	}
	if err != nil {
		r.inflight.Done()
		return ev.ID, nil, err
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Route.Name
	}
	go func() {
		defer r.inflight.Done()
		var wg sync.WaitGroup
		for _, m := range ms {
			if steps := eng.LocalSteps(m.Route); len(steps) > 0 && !m.Held {
				wg.Add(1)
				go func() { defer wg.Done(); _ = eng.Run(context.WithoutCancel(ctx), m, steps) }()
			}
		}
		wg.Wait()
	}()
	return ev.ID, names, nil
}

// startFollower watches the Tracee files of runner.toml's [discovery].
func (r *Runner) startFollower(ctx context.Context, wg *sync.WaitGroup) error {
	paths := r.opts.Settings.TraceeFiles
	f, err := tracefile.New(tracefile.Options{
		Paths: paths, StateDir: r.opts.Settings.StateDir, StartAtBeginning: r.opts.Settings.StartAtBegin,
		Logger: r.log.With("component", "tracee-files"), Handle: r.onLine,
	})
	if err != nil {
		return fmt.Errorf("tracee files: %w", err)
	}
	r.follower = f
	r.discMu.Lock()
	r.traceeFiles = paths
	r.discMu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := f.Run(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("tracee file watcher stopped", logx.Err(err))
		}
	}()
	return nil
}

// onLine takes one Tracee line like a webhook event; its id derives from
// the line's place in its file, so a line replayed after a crash is the
// same event to the controller's deduplication.
// lineEventID names the line at off in the file fileKey, the same way on
// every read.
func lineEventID(runner, fileKey string, off int64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", runner, fileKey, off))
	return hex.EncodeToString(h[:16])
}

// announce writes runner.json into the runtime directory so local producers
// and scripts can find this runner.
func (r *Runner) announce() error {
	s := r.opts.Settings
	if err := mkdirReadable(s.RuntimeDir); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{
		"name": s.Name, "host": r.opts.Hostname, "machine_id": r.opts.MachineID, "version": r.opts.Version,
		"intake": r.intake, "controller": s.ControllerURL, "pid": os.Getpid(),
	}, "", "  ")
	return writeFileAtomic(filepath.Join(s.RuntimeDir, "runner.json"), append(b, '\n'), 0o644)
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
