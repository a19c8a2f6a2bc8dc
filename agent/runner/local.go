package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
)

// local runs the runner's own actions for every event in the journal
// (webhook events and Tracee lines alike), exactly once across a crash of
// the runner process, except an action interrupted mid-run, which follows
// its on-crash policy.
//
// The order of commits that makes this hold:
//  1. An event's envelope is appended to the journal before its producer
//     hears it was taken (the webhook's 200) or its place in a Tracee file
//     is committed (offsets are saved only after the journal is fsynced).
//  2. Each step of the event is marked in the idempotency log: "started"
//     before an action whose crash matters (on-crash: skip, or an exec
//     script, which outlives the runner) runs, "done" after it ran.
//     Matches the plugins stage kept back (duplicates, held messages) get
//     their steps marked done at once.
//  3. The local cursor (spool.local) moves past an entry only once all its
//     steps are marked done, and is written after those marks.
//
// After a crash every entry from the cursor on is evaluated again and only
// steps without a done mark run: nothing is lost (1, 3), nothing done runs
// again (2), and a step marked started but not done is the one case left,
// decided by its action's on-crash policy.
type local struct {
	j       *journal
	cfg     *configSync
	plugins *engine.Plugins
	exec    *engine.Executor
	marks   engine.Marks
	log     *slog.Logger
	// saveEvery is how often the position is saved while it moves: what
	// a crash replays (evaluation only: done steps do not run again).
	saveEvery time.Duration
	poll      time.Duration // drain's look at the position

	window    int          // entries in flight at once
	pos       atomic.Int64 // every entry before it is done
	evaluated atomic.Int64 // entries handled since the start
}

// localEnvelope is what local needs of a spooled transport.Envelope.
type localEnvelope struct {
	EventID  string `json:"event_id"`
	Route    string `json:"route"`
	Revision int64  `json:"revision"`
	Event    []byte `json:"-"`
}

// splitEnvelope reads an envelope this runner wrote (see appendEnvelope):
// its fields come first and the event last, so only the small head is
// decoded and the event is not scanned twice.
func splitEnvelope(entry []byte) (localEnvelope, error) {
	var env localEnvelope
	i := bytes.Index(entry, []byte(eventField))
	if i < 0 || len(entry) < i+len(eventField)+2 || entry[len(entry)-1] != '}' {
		return env, errors.New("spooled entry is not an envelope")
	}
	head := append(append([]byte(nil), entry[:i]...), '}')
	if err := json.Unmarshal(head, &env); err != nil {
		return env, fmt.Errorf("spooled envelope: %w", err)
	}
	env.Event = entry[i+len(eventField) : len(entry)-1]
	return env, nil
}

type localSlot struct {
	off, next int64
	entry     []byte
	done      atomic.Bool // every step done: the cursor may pass it
}

type localDeps struct {
	Journal *journal
	Config  *configSync
	Plugins *engine.Plugins
	Exec    *engine.Executor
	Marks   engine.Marks
	Logger  *slog.Logger
	// SaveEvery and Poll are Timings.LocalSave and Timings.Poll.
	SaveEvery, Poll time.Duration
}

var _ part = (*local)(nil)

func newLocal(d localDeps) *local {
	l := &local{j: d.Journal, cfg: d.Config, plugins: d.Plugins, exec: d.Exec, marks: d.Marks, log: d.Logger,
		saveEvery: d.SaveEvery, poll: d.Poll, window: 1024}
	l.pos.Store(l.j.Cursor(cursorLocal))
	return l
}

// Run handles entries until ctx is done, then waits for those in flight;
// entries read but not started then are left for the next start.
func (l *local) Run(ctx context.Context) {
	next := l.j.Cursor(cursorLocal)
	work := make(chan *localSlot, l.window)
	done := make(chan *localSlot, l.window)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for s := range work {
				l.handle(ctx, s, done)
			}
		})
	}
	defer wg.Wait()
	defer close(work)
	var queue []*localSlot // in journal order
	outstanding := 0       // slots neither done nor abandoned
	tick := time.NewTicker(l.saveEvery)
	defer tick.Stop()
	saved, savedAt := next, time.Now()
	save := func() {
		if pos := l.pos.Load(); pos != saved {
			if err := l.j.SetCursor(cursorLocal, pos); err != nil {
				l.log.Warn("local position not saved; events may be evaluated again (done steps are not run again)", logx.Err(err))
				return
			}
			saved, savedAt = pos, time.Now()
		}
	}
	defer save()
	for {
		if ctx.Err() == nil && len(queue) < l.window {
			n, _ := l.j.Read(next, l.window-len(queue), func(off int64, entry []byte) error {
				s := &localSlot{off: off, next: off + int64(len(entry)) + 1, entry: append([]byte(nil), entry...)}
				queue = append(queue, s)
				outstanding++
				work <- s
				return nil
			})
			next = n
		}
		end, changed := l.j.End()
		if ctx.Err() == nil && next < end && len(queue) < l.window {
			continue
		}
		if ctx.Err() != nil && outstanding == 0 {
			return
		}
		select {
		case <-done:
			outstanding--
			for len(queue) > 0 && queue[0].done.Load() {
				queue = queue[1:]
			}
			if len(queue) > 0 {
				l.pos.Store(queue[0].off)
			} else {
				l.pos.Store(next)
			}
			if time.Since(savedAt) >= l.saveEvery {
				save()
			}
		case <-changed:
		case <-tick.C:
			save()
		case <-untilDone(ctx):
		}
	}
}

// untilDone is ctx.Done() until ctx ends, then nil (never ready): from then
// on only the entries in flight are awaited.
func untilDone(ctx context.Context) <-chan struct{} {
	if ctx.Err() != nil {
		return nil
	}
	return ctx.Done()
}

// handle evaluates one entry; its local steps run in their own goroutine
// (the executor bounds how many actions run at once) and done hears of it
// when they ended.
func (l *local) handle(ctx context.Context, s *localSlot, done chan<- *localSlot) {
	if ctx.Err() != nil {
		done <- s // not handled (stopping): evaluated after the restart
		return
	}
	finish := func() { l.evaluated.Add(1); s.done.Store(true); done <- s }
	env, err := splitEnvelope(s.entry)
	if err != nil {
		l.log.Warn("spooled event unreadable; its local actions are not run", logx.Err(err))
		finish()
		return
	}
	if env.Revision == 0 {
		finish() // taken in without a config: the controller sends its actions back as work
		return
	}
	eng, ok := l.engine(ctx)
	if !ok {
		done <- s // stopping before any config came
		return
	}
	ev, err := engine.ParseEvent(env.Event, env.EventID)
	if err != nil {
		l.log.Warn("spooled event not evaluated", "event_id", env.EventID, logx.Err(err))
		finish()
		return
	}
	ms, err := eng.Evaluate(ctx, ev, env.Route)
	if err != nil && !errors.Is(err, engine.ErrNoRoute) { // ErrNoRoute: the controller's route, not ours
		l.log.Error("event not evaluated; its local actions are not run", "event_id", env.EventID, logx.Err(err))
	}
	send, kept, err := l.plugins.Apply(ctx, eng, ms)
	if err != nil {
		l.log.Error("event not deduplicated or aggregated; its local actions are not run", "event_id", env.EventID, logx.Err(err))
	}
	l.markKept(ctx, eng, kept)
	if len(send) == 0 {
		finish()
		return
	}
	go func() {
		l.run(context.WithoutCancel(ctx), eng, send)
		finish()
	}()
}

// engine waits for a config when there is none yet: an entry taken in with
// a config whose engine is not here (no cache) must not be skipped.
func (l *local) engine(ctx context.Context) (*engine.Engine, bool) {
	if eng, _ := l.cfg.current(); eng != nil {
		return eng, true
	}
	select {
	case <-l.cfg.applied:
		eng, _ := l.cfg.current()
		return eng, true
	case <-ctx.Done():
		return nil, false
	}
}

// run runs the local steps of ms, then releases their batches.
func (l *local) run(ctx context.Context, eng *engine.Engine, ms []engine.Match) {
	var wg sync.WaitGroup
	for _, m := range ms {
		if steps := eng.LocalSteps(m.Route); len(steps) > 0 {
			wg.Go(func() { _ = l.exec.RunSteps(ctx, eng, m, steps) })
		}
	}
	wg.Wait()
	l.plugins.Done(ctx, ms)
}

// markKept marks the local steps of matches the plugins stage kept back as
// done: evaluated again after a crash, with the dedup memory gone, they
// must not run then.
func (l *local) markKept(ctx context.Context, eng *engine.Engine, kept []engine.Match) {
	for _, m := range kept {
		for _, s := range eng.LocalSteps(m.Route) {
			if err := l.marks.SetMark(ctx, engine.StepKey(m.Msg.EventID, m.Route.Name, s.Action), engine.MarkDone); err != nil {
				l.log.Warn("skipped step not recorded", "event_id", m.Msg.EventID, logx.Err(err))
			}
		}
	}
}

// backlog is how many journal bytes wait for their local actions.
func (l *local) backlog() int64 {
	end, _ := l.j.End()
	return end - l.pos.Load()
}

// runFlushed runs the local steps of aggregated messages whose timeout
// passed (the plugins stage's Run hands them over).
func (l *local) runFlushed(ctx context.Context, ms []engine.Match) {
	if eng, _ := l.cfg.current(); eng != nil {
		l.run(ctx, eng, ms)
	}
}

// drain waits until every entry appended so far was handled, or deadline.
func (l *local) drain(deadline time.Time) bool {
	end, _ := l.j.End()
	for l.pos.Load() < end {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(l.poll)
	}
	return true
}
