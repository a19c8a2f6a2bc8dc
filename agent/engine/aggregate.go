package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Postee's route plugins aggregate-message-number and
// aggregate-message-timeout: a route's messages are held and sent as one,
// rendered by the template's aggregation package (its aggregation_pkg, input
// an array of {title, description, url}), when the number is reached or the
// timeout passes, whichever comes first. Held messages are also sent when the
// engine is closed (reload, stop), so none is lost.

// aggregator holds the messages of the routes that aggregate.
type aggregator struct {
	e       *Engine
	mu      sync.Mutex
	pending map[string][]Match                 // guarded by mu; by route
	queries map[string]*rego.PreparedEvalQuery // guarded by mu; by aggregation package
	stop    chan struct{}
	done    sync.WaitGroup
}

func (r *Route) aggregates() bool { return r.aggNumber() > 0 || r.aggTimeout() > 0 }

func (r *Route) aggNumber() int {
	return max(r.Plugins.AggregateMessageNumber, r.Plugins.AggregateIssuesNumber)
}

func (r *Route) aggTimeout() time.Duration {
	return max(r.Plugins.AggregateMessageTimeout.D(), r.Plugins.AggregateIssuesTimeout.D())
}

func newAggregator(e *Engine) *aggregator {
	a := &aggregator{e: e, pending: map[string][]Match{}, queries: map[string]*rego.PreparedEvalQuery{}, stop: make(chan struct{})}
	for _, r := range e.routes {
		if t := r.aggTimeout(); t > 0 {
			a.done.Add(1)
			go a.tick(r, t)
		}
	}
	return a
}

// add holds m; when its route's number is reached it returns the
// aggregated match to send now.
func (a *aggregator) add(ctx context.Context, m Match) (*Match, error) {
	a.mu.Lock()
	held := append(a.pending[m.Route.Name], m)
	if n := m.Route.aggNumber(); n == 0 || len(held) < n {
		a.pending[m.Route.Name] = held
		a.mu.Unlock()
		return nil, nil
	}
	delete(a.pending, m.Route.Name)
	a.mu.Unlock()
	out, err := a.render(ctx, held)
	return &out, err
}

func (a *aggregator) tick(r *Route, every time.Duration) {
	defer a.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.flush(r.Name)
		}
	}
}

// flush sends what route holds through the engine's OnFlush.
func (a *aggregator) flush(route string) {
	a.mu.Lock()
	held := a.pending[route]
	delete(a.pending, route)
	a.mu.Unlock()
	if len(held) == 0 {
		return
	}
	ctx := context.Background()
	m, err := a.render(ctx, held)
	if err != nil {
		a.e.log.Error("aggregated message not rendered; sending the messages one by one", "route", route, "error", err)
		for _, h := range held {
			a.e.opts.OnFlush(ctx, a.e, h)
		}
		return
	}
	a.e.opts.OnFlush(ctx, a.e, m)
}

// close stops the timers and sends everything held.
func (a *aggregator) close() {
	close(a.stop)
	a.done.Wait()
	a.mu.Lock()
	routes := make([]string, 0, len(a.pending))
	for r := range a.pending {
		routes = append(routes, r)
	}
	a.mu.Unlock()
	for _, r := range routes {
		a.flush(r)
	}
}

// render combines held messages with the aggregation package the template
// names, or, without one, lists them.
func (a *aggregator) render(ctx context.Context, held []Match) (Match, error) {
	last := held[len(held)-1]
	out := Match{Route: last.Route, ev: last.ev, Msg: last.Msg}
	out.Msg.EventID = NewID()
	pkg := last.aggPkg
	if pkg == "" {
		titles := make([]string, len(held))
		bodies := make([]string, len(held))
		for i, h := range held {
			titles[i], bodies[i] = h.Msg.Title, h.Msg.Body
		}
		out.Msg.Title = fmt.Sprintf("%d messages: %s", len(held), strings.Join(titles, "; "))
		out.Msg.Body = strings.Join(bodies, "\n\n")
		return out, nil
	}
	q, err := a.query(ctx, last.Route.tmpl, pkg)
	if err != nil {
		return out, err
	}
	items := make([]any, len(held))
	for i, h := range held {
		items[i] = map[string]any{"title": h.Msg.Title, "description": h.Msg.Body, "url": h.Msg.URL}
	}
	in, err := ast.InterfaceToValue(items)
	if err != nil {
		return out, err
	}
	r, err := (&template{name: last.Route.Template + " aggregation", pkg: pkg, query: *q}).render(ctx, in)
	if err != nil {
		return out, err
	}
	out.Msg.Title, out.Msg.Body, out.Msg.URL = r.Title, r.Body, r.URL
	return out, nil
}

func (a *aggregator) query(ctx context.Context, t *template, pkg string) (*rego.PreparedEvalQuery, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q, ok := a.queries[pkg]; ok {
		return q, nil
	}
	ref, err := pkgRef(pkg)
	if err != nil {
		return nil, err
	}
	pq, err := rego.New(rego.ParsedQuery(renderQuery(ref)), rego.Compiler(t.c)).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("aggregation package %s: %w", pkg, err)
	}
	a.queries[pkg] = &pq
	return &pq, nil
}
