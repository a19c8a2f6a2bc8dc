package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
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
//
// Messages are held per route AND per source (reporting runner, whether it
// ran its own actions, host): one aggregated message goes to one place, so
// a batch never mixes events a runner already handled with events it did not,
// nor one host's findings with another's.

// aggregator holds the messages of the routes that aggregate.
type aggregator struct {
	e       *Engine
	mu      sync.Mutex
	pending map[bucket][]Match                 // guarded by mu
	queries map[string]*rego.PreparedEvalQuery // guarded by mu; by aggregation package
	closed  bool                               // guarded by mu: add no longer holds
	stop    chan struct{}
	done    sync.WaitGroup
}

type bucket struct {
	route, from, host string
	fromRan           bool
}

func bucketOf(m Match) bucket {
	return bucket{route: m.Route.Name, from: m.From(), host: m.Host(), fromRan: m.FromRan()}
}

// flushTimeout bounds sending what is held when an engine closes, so a stop
// stays inside the units' TimeoutStopSec.
const flushTimeout = 20 * time.Second

func (r *Route) aggregates() bool { return r.aggNumber() > 0 || r.aggTimeout() > 0 }

func (r *Route) aggNumber() int {
	return max(r.Plugins.AggregateMessageNumber, r.Plugins.AggregateIssuesNumber)
}

func (r *Route) aggTimeout() time.Duration {
	return max(r.Plugins.AggregateMessageTimeout.D(), r.Plugins.AggregateIssuesTimeout.D())
}

func newAggregator(e *Engine) *aggregator {
	a := &aggregator{e: e, pending: map[bucket][]Match{}, queries: map[string]*rego.PreparedEvalQuery{}, stop: make(chan struct{})}
	for _, r := range e.routes {
		if t := r.aggTimeout(); t > 0 {
			a.done.Add(1)
			go a.tick(r, t)
		}
	}
	return a
}

// add holds m and returns what to send now: nothing while the batch grows,
// the aggregated message when the number is reached (or, if the
// aggregation package fails, every held message on its own), and m itself
// once the engine is closed.
func (a *aggregator) add(ctx context.Context, m Match) []Match {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return []Match{m}
	}
	b := bucketOf(m)
	held := append(a.pending[b], m)
	if n := m.Route.aggNumber(); n == 0 || len(held) < n {
		a.pending[b] = held
		a.mu.Unlock()
		return nil
	}
	delete(a.pending, b)
	a.mu.Unlock()
	return a.combine(ctx, held)
}

// combine renders held as one message, or returns them one by one when the
// aggregation package fails: better unaggregated than lost.
func (a *aggregator) combine(ctx context.Context, held []Match) []Match {
	out, err := a.render(ctx, held)
	if err != nil {
		a.e.log.Error("aggregated message not rendered; sending the messages one by one", "route", held[0].Route.Name, logx.Err(err))
		return held
	}
	return []Match{out}
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
			a.flush(context.Background(), r.Name)
		}
	}
}

// flush sends what route holds (every source's batch) through OnFlush.
func (a *aggregator) flush(ctx context.Context, route string) {
	a.mu.Lock()
	var batches [][]Match
	for b, held := range a.pending {
		if b.route == route || route == "" {
			batches = append(batches, held)
			delete(a.pending, b)
		}
	}
	a.mu.Unlock()
	for _, held := range batches {
		for _, m := range a.combine(ctx, held) {
			a.e.opts.OnFlush(ctx, a.e, m)
		}
	}
}

// close stops the timers and sends everything held, within flushTimeout;
// later adds are sent straight away.
func (a *aggregator) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	a.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	a.flush(ctx, "")
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
		items[i] = map[string]any{"title": h.Msg.Title, "description": aggDescription(h.Msg.Body), "url": h.Msg.URL}
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
	pq, err := templateQuery(renderQuery(ref), t.c).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("aggregation package %s: %w", pkg, err)
	}
	a.queries[pkg] = &pq
	return &pq, nil
}

// aggDescription is a rendered body as Postee gives it to an aggregation
// package: a JSON array of objects (Slack blocks) decoded, so that
// array.concat(..., input[i].description) works; anything else as text.
func aggDescription(body string) any {
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(body), &blocks); err != nil || blocks == nil {
		return body
	}
	return blocks
}
