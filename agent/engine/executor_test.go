package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// gauge is an action type that records how many of its runs overlap.
type gauge struct {
	now, peak atomic.Int64
	runs      atomic.Int64
	recovered map[string]bool // run ids Recover reports as finished
	mu        sync.Mutex
	ids       []string // guarded by mu
}

func (g *gauge) registry() *action.Registry {
	reg := action.NewRegistry()
	reg.Register("gauge", func(spec action.Spec) (action.Action, error) { return g, nil })
	return reg
}

func (g *gauge) Send(ctx context.Context, m action.Message) (bool, error) {
	n := g.now.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	time.Sleep(2 * time.Millisecond)
	g.now.Add(-1)
	g.runs.Add(1)
	g.mu.Lock()
	g.ids = append(g.ids, m.RunID)
	g.mu.Unlock()
	return false, nil
}

func (g *gauge) Recover(_ context.Context, runID string) (bool, error) {
	return g.recovered[runID], nil
}

func (g *gauge) Forget(string) {}

func gaugeEngine(t *testing.T, g *gauge, onCrash string) *Engine {
	t.Helper()
	cfg := load(t, t.TempDir(), fmt.Sprintf(`routes:
- {name: r, template: t, actions: [a, b, c]}
templates:
- {name: t, body: "title := \"t\"\nresult := \"\""}
actions:
- {name: a, type: gauge, enable: true, on-crash: %[1]s}
- {name: b, type: gauge, enable: true, on-crash: %[1]s}
- {name: c, type: gauge, enable: true, on-crash: %[1]s}
`, onCrash), nil)
	e, err := New(context.Background(), cfg, Options{Registry: g.registry()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExecutorBoundsActionsRunningAtOnce(t *testing.T) {
	g := &gauge{}
	e := gaugeEngine(t, g, "rerun")
	x := NewExecutor(ExecutorOptions{Limit: 3})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			ms, _ := e.Evaluate(context.Background(), event(t, `{}`), "")
			_ = x.RunSteps(context.Background(), e, ms[0], e.LocalSteps(ms[0].Route))
		})
	}
	wg.Wait()
	if g.runs.Load() != 300 || g.peak.Load() > 3 || g.peak.Load() < 2 {
		t.Fatalf("%d runs, at most %d at once (limit 3)", g.runs.Load(), g.peak.Load())
	}
}

func TestExecutorMarksAndCrashPolicy(t *testing.T) {
	for _, policy := range []string{"rerun", "skip"} {
		t.Run(policy, func(t *testing.T) {
			g := &gauge{}
			e := gaugeEngine(t, g, policy)
			marks := NewMemMarks()
			x := NewExecutor(ExecutorOptions{Marks: marks})
			ctx := context.Background()
			ev, _ := ParseEvent([]byte(`{}`), "ev1")
			ms, _ := e.Evaluate(ctx, ev, "")
			// Before the "crash": a done, b interrupted, c never started.
			_ = marks.SetMark(ctx, StepKey("ev1", "r", "a"), MarkDone)
			_ = marks.SetMark(ctx, StepKey("ev1", "r", "b"), MarkStarted)
			if err := x.RunSteps(ctx, e, ms[0], e.LocalSteps(ms[0].Route)); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(g.ids, ",")
			wantRuns := map[string][]string{"rerun": {"ev1/r/b", "ev1/r/c"}, "skip": {"ev1/r/c"}}[policy]
			if len(g.ids) != len(wantRuns) {
				t.Fatalf("ran %s, want %v", got, wantRuns)
			}
			for _, id := range wantRuns {
				if !strings.Contains(got, id) {
					t.Fatalf("ran %s, want %v", got, wantRuns)
				}
			}
			for _, a := range []string{"a", "b", "c"} {
				if m, _ := marks.Mark(ctx, StepKey("ev1", "r", a)); m != MarkDone {
					t.Fatalf("%s marked %d after the run", a, m)
				}
			}
			// Handled again: nothing runs twice.
			n := g.runs.Load()
			_ = x.RunSteps(ctx, e, ms[0], e.LocalSteps(ms[0].Route))
			if g.runs.Load() != n {
				t.Fatal("a done step ran again")
			}
		})
	}
}

func TestExecutorAsksARecovererBeforeRerunning(t *testing.T) {
	g := &gauge{recovered: map[string]bool{"ev2/r/a": true}}
	e := gaugeEngine(t, g, "rerun")
	marks := NewMemMarks()
	x := NewExecutor(ExecutorOptions{Marks: marks})
	ctx := context.Background()
	ev, _ := ParseEvent([]byte(`{}`), "ev2")
	ms, _ := e.Evaluate(ctx, ev, "")
	_ = marks.SetMark(ctx, StepKey("ev2", "r", "a"), MarkStarted) // finished while the daemon was down
	_ = marks.SetMark(ctx, StepKey("ev2", "r", "b"), MarkStarted) // really interrupted
	_ = marks.SetMark(ctx, StepKey("ev2", "r", "c"), MarkDone)
	_ = x.RunSteps(ctx, e, ms[0], e.LocalSteps(ms[0].Route))
	if got := strings.Join(g.ids, ","); got != "ev2/r/b" {
		t.Fatalf("ran %q, want only the interrupted b", got)
	}
}

// TestExecutorRunsAStepOnceWhenHandledTwiceAtOnce: an event read twice
// (a Tracee line read again after a crash, while its first copy is still
// being handled) runs each step once.
func TestExecutorRunsAStepOnceWhenHandledTwiceAtOnce(t *testing.T) {
	g := &gauge{}
	e := gaugeEngine(t, g, "rerun")
	x := NewExecutor(ExecutorOptions{})
	ev, _ := ParseEvent([]byte(`{}`), "same")
	ms, _ := e.Evaluate(context.Background(), ev, "")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _ = x.RunSteps(context.Background(), e, ms[0], e.LocalSteps(ms[0].Route)) })
	}
	wg.Wait()
	if n := g.runs.Load(); n != 3 {
		t.Fatalf("%d runs of 3 steps handled 10 times at once", n)
	}
}

// failingMarks cannot record anything (a store out of reach, a full disk).
type failingMarks struct{ Marks }

func (failingMarks) Mark(context.Context, string) (Mark, error) { return MarkNone, nil }
func (failingMarks) SetMark(context.Context, string, Mark) error {
	return errors.New("store unreachable")
}

// TestExecutorStepNotStartedWhenItsStartCannotBeRecorded: a step whose
// start mark cannot be written does not run and says so with
// ErrNotStarted, so the caller handles the event again instead of
// acknowledging it with the action never run.
func TestExecutorStepNotStartedWhenItsStartCannotBeRecorded(t *testing.T) {
	g := &gauge{}
	e := gaugeEngine(t, g, "skip") // skip: a start mark is needed
	x := NewExecutor(ExecutorOptions{Marks: failingMarks{}})
	ctx := context.Background()
	ev, _ := ParseEvent([]byte(`{}`), "ev3")
	ms, _ := e.Evaluate(ctx, ev, "")
	err := x.RunSteps(ctx, e, ms[0], e.LocalSteps(ms[0].Route))
	if !errors.Is(err, ErrNotStarted) {
		t.Fatalf("RunSteps: %v, want ErrNotStarted", err)
	}
	if n := g.runs.Load(); n != 0 {
		t.Fatalf("%d actions ran without a recorded start", n)
	}
}

func TestUnfinishedKeepsOnlyStepsToHandleAgain(t *testing.T) {
	failed := errors.New(`action "a": exit status 1`)
	notStarted := fmt.Errorf("%w: action %q: recording its start: %v", ErrNotStarted, "b", errors.New("disk full"))
	elsewhere := fmt.Errorf("action %q: %w", "c", ErrElsewhere)
	if err := Unfinished(errors.Join(failed, nil)); err != nil {
		t.Fatalf("Unfinished of a failed action: %v, want nil", err)
	}
	got := Unfinished(errors.Join(failed, notStarted, elsewhere))
	if !errors.Is(got, ErrNotStarted) || !errors.Is(got, ErrElsewhere) || strings.Contains(got.Error(), "exit status") {
		t.Fatalf("Unfinished = %v, want the steps b and c only", got)
	}
}
