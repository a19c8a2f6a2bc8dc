package engine

import (
	"context"
	"testing"
)

// pipeline is what a daemon wires around an engine: the plugins stage and
// the executor.
type pipeline struct {
	e *Engine
	p *Plugins
	x *Executor
}

func newPipeline(e *Engine) *pipeline {
	return &pipeline{e: e, p: NewPlugins(PluginsOptions{}), x: NewExecutor(ExecutorOptions{})}
}

// handle evaluates ev as a daemon does and runs every local step of what
// is sent; it returns what was sent and what the plugins kept back.
func (p *pipeline) handle(t *testing.T, ev *Event) (send, kept []Match) {
	t.Helper()
	ctx := context.Background()
	ms, err := p.e.Evaluate(ctx, ev, "")
	if err != nil {
		t.Fatal(err)
	}
	send, kept, err = p.p.Apply(ctx, p.e, ms)
	if err != nil {
		t.Fatal(err)
	}
	p.run(send)
	return send, kept
}

func (p *pipeline) run(ms []Match) {
	ctx := context.Background()
	for _, m := range ms {
		if steps := p.e.LocalSteps(m.Route); len(steps) > 0 {
			_ = p.x.RunSteps(ctx, p.e, m, steps)
		}
	}
	p.p.Done(ctx, ms)
}
