package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/logx"
)

// Executor is the one place actions run: every caller (the controller's
// events, a runner's jobs, webhook events and Tracee lines) goes through
// RunSteps. It bounds how many actions run at once, and records each
// step's progress in Marks so that a step whose event is handled again
// after a crash does not run twice.
type Executor struct {
	slots   chan struct{}
	marks   Marks
	log     *slog.Logger
	running atomic.Int64

	mu     sync.Mutex
	active map[string]chan struct{} // guarded by mu: steps being run, closed when done
}

// Mark is how far a step got.
type Mark uint8

const (
	MarkNone    Mark = iota
	MarkStarted      // recorded before an action whose crash matters started
	MarkDone         // the action ran (ok or failed, after its retries)
	// MarkElsewhere is a start recorded by another live process sharing
	// the marks (another controller): it can still tell, from its own
	// run record, whether the action finished, so the step is left to it.
	MarkElsewhere
)

// ErrElsewhere is RunSteps' error for a step another live process started:
// handle the event again later (that process finishes the step, or, gone
// for good, no longer counts as live).
var ErrElsewhere = errors.New("action started by another controller, which may still finish it")

// ErrNotStarted wraps a step that did not run because its mark could not
// be read or its start recorded (the store is unreachable, the disk full),
// or because ctx ended while it waited for a slot: handle the event again
// later. An action that ran and failed is not this error's case.
var ErrNotStarted = errors.New("action not started")

// Unfinished is the part of RunSteps' error that says to handle the event
// again (steps ErrNotStarted or ErrElsewhere), without the failures of
// actions that ran, which Engine.Send logged already; nil when none.
func Unfinished(err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.Is(e, ErrNotStarted) || errors.Is(e, ErrElsewhere) {
			out = append(out, e)
		}
	}
	walk(err)
	return errors.Join(out...)
}

// Marks records step progress by key (see StepKey), durably enough for the
// daemon's promise: the runner's idempotency log, the controller's
// JetStream bucket.
type Marks interface {
	Mark(ctx context.Context, key string) (Mark, error)
	SetMark(ctx context.Context, key string, m Mark) error
}

// ExecutorOptions configure NewExecutor.
type ExecutorOptions struct {
	// Limit is how many actions may run at once; default DefaultLimit().
	Limit  int
	Marks  Marks // default: in memory
	Logger *slog.Logger
}

// DefaultLimit is the default number of actions running at once: enough
// to overlap network waits, few enough that a burst of findings does not
// fork thousands of scripts on a production host.
func DefaultLimit() int { return max(4, 4*runtime.GOMAXPROCS(0)) }

// NewExecutor returns an executor.
func NewExecutor(o ExecutorOptions) *Executor {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit()
	}
	if o.Marks == nil {
		o.Marks = NewMemMarks()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{slots: make(chan struct{}, o.Limit), marks: o.Marks, log: o.Logger, active: map[string]chan struct{}{}}
}

// Limit is how many actions may run at once.
func (x *Executor) Limit() int { return cap(x.slots) }

// Running is how many actions run now.
func (x *Executor) Running() int { return int(x.running.Load()) }

// StepKey names one action of one event's route: the idempotency key of
// its run.
func StepKey(eventID, route, action string) string { return eventID + "/" + route + "/" + action }

// RunSteps runs steps of m in this process: one after another in order
// when the route serializes its actions, concurrently otherwise, each
// taking one of the executor's slots while it runs. A step already done is
// skipped; one that was running when the process died follows its action's
// on-crash policy. Failures are logged (by Engine.Send) and joined.
func (x *Executor) RunSteps(ctx context.Context, eng *Engine, m Match, steps []Step) error {
	if m.Msg.Input == nil && m.Msg.LazyInput == nil && m.ev != nil {
		m.Msg.LazyInput = m.ev.Doc // decoded once, if an action reads it
	}
	if len(steps) == 0 {
		return nil
	}
	if m.Route.Serialize || len(steps) == 1 {
		var errs []error
		for _, s := range steps {
			errs = append(errs, x.step(ctx, eng, m, s.Action))
		}
		return errors.Join(errs...)
	}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps[:len(steps)-1] {
		wg.Go(func() { errs[i] = x.step(ctx, eng, m, s.Action) })
	}
	last := len(steps) - 1 // in this goroutine: one fewer to start
	errs[last] = x.step(ctx, eng, m, steps[last].Action)
	wg.Wait()
	return errors.Join(errs...)
}

func (x *Executor) step(ctx context.Context, eng *Engine, m Match, name string) error {
	key := StepKey(m.Msg.EventID, m.Route.Name, name)
	// The same step twice at once (an event read twice after a crash, or
	// redelivered while still in progress): the second waits for the
	// first, then finds it done.
	release, err := x.claim(ctx, key)
	if err != nil {
		return fmt.Errorf("%w: action %q: %v", ErrNotStarted, name, err)
	}
	defer release()
	log := lazyLogger(func() *slog.Logger {
		return x.log.With("route", m.Route.Name, "action", name, "event_id", m.Msg.EventID)
	})
	mark := MarkNone
	if !m.Fresh {
		if mark, err = x.marks.Mark(ctx, key); err != nil {
			return fmt.Errorf("%w: action %q: reading its run record: %v", ErrNotStarted, name, err)
		}
	}
	rec, _ := eng.actions[name].(action.Recoverer)
	policy := eng.onCrash[name]
	switch mark {
	case MarkDone:
		log.Info("action already done; not run again")
		return nil
	case MarkElsewhere:
		log.Debug("action started by another controller; left to it")
		return fmt.Errorf("action %q: %w", name, ErrElsewhere)
	case MarkStarted:
		if done, err := x.recovered(ctx, rec, key); err != nil {
			log.Warn("cannot tell whether the interrupted run finished", logx.Err(err))
		} else if done {
			log.Info("action finished while the daemon was down; not run again")
			if err := x.marks.SetMark(ctx, key, MarkDone); err != nil {
				return err
			}
			rec.Forget(key)
			return nil
		}
		if policy == OnCrashSkip {
			log.Warn("action was interrupted by a crash; not run again (on-crash: skip)")
			return x.marks.SetMark(ctx, key, MarkDone)
		}
		log.Warn("action was interrupted by a crash; running it again (on-crash: rerun)")
	}
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: action %q: %v", ErrNotStarted, name, ctx.Err())
	}
	// A start mark is what lets a restart tell "interrupted" from "never
	// started": written only where that changes what happens next, and
	// only once the action really starts (not while it waits for a slot).
	if policy == OnCrashSkip || rec != nil {
		if err := x.marks.SetMark(ctx, key, MarkStarted); err != nil {
			<-x.slots
			return fmt.Errorf("%w: action %q: recording its start: %v", ErrNotStarted, name, err)
		}
	}
	x.running.Add(1)
	msg := m.Msg
	msg.RunID = key
	err = eng.Send(ctx, msg, name)
	x.running.Add(-1)
	<-x.slots
	if merr := x.marks.SetMark(ctx, key, MarkDone); merr != nil {
		log.Error("action ran but its run was not recorded; it may run again after a crash", logx.Err(merr))
	} else if rec != nil {
		rec.Forget(key)
	}
	return err
}

// lazyLogger builds its logger on the first line logged: a step that logs
// nothing (the common case) costs no attribute copying.
type lazyLogger func() *slog.Logger

func (l lazyLogger) Info(msg string, args ...any)  { l().Info(msg, args...) }
func (l lazyLogger) Warn(msg string, args ...any)  { l().Warn(msg, args...) }
func (l lazyLogger) Debug(msg string, args ...any) { l().Debug(msg, args...) }
func (l lazyLogger) Error(msg string, args ...any) { l().Error(msg, args...) }

// claim makes this the only run of key in progress, waiting for another.
func (x *Executor) claim(ctx context.Context, key string) (release func(), err error) {
	for {
		x.mu.Lock()
		busy, ok := x.active[key]
		if !ok {
			done := make(chan struct{})
			x.active[key] = done
			x.mu.Unlock()
			return func() {
				x.mu.Lock()
				delete(x.active, key)
				x.mu.Unlock()
				close(done)
			}, nil
		}
		x.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (x *Executor) recovered(ctx context.Context, rec action.Recoverer, key string) (bool, error) {
	if rec == nil {
		return false, nil
	}
	return rec.Recover(ctx, key)
}

// Crash policies (an action's on-crash key).
const (
	OnCrashRerun = "rerun" // the default: an interrupted action runs again
	OnCrashSkip  = "skip"  // an interrupted action never runs again
)

// memMarks is Marks in memory (tests, dry runs), bounded like memDedup.
type memMarks struct {
	mu sync.Mutex
	m  map[string]Mark // guarded by mu
}

// NewMemMarks returns Marks kept in memory.
func NewMemMarks() Marks { return &memMarks{m: map[string]Mark{}} }

func (s *memMarks) Mark(_ context.Context, key string) (Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

func (s *memMarks) SetMark(_ context.Context, key string, m Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= dedupMax {
		clear(s.m)
	}
	s.m[key] = m
	return nil
}
