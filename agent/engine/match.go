package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/postee-fleet/posteed/agent/action"
)

// The engine's two pure stages: Match finds the routes an event matches,
// Render renders their templates. Neither keeps state; the stateful stage
// (Plugins: dedup, aggregation) and the one that acts (Executor) come after
// and belong to the daemon, so they outlive a reload.

// Match is a route that matched an event, with its rendered message.
type Match struct {
	Route *Route
	Msg   action.Message // Msg.LazyInput is set when an action runs
	// Fresh says the event is handled for the first time, so the executor
	// need not read its steps' run records (it still writes them). Left
	// false, every step's record is read: the safe default.
	Fresh bool
	ev    *Event
	// aggPkg is the aggregation package the template names, for a route
	// whose messages are held and sent together.
	aggPkg string
	// batch is set on a message aggregated from held ones: the Plugins
	// stage releases the batch once the message was handled (Done).
	batch *Batch
}

// ErrNoRoute is returned for a route name that is not configured.
var ErrNoRoute = errors.New("no such route")

// Match returns the routes ev matches, in config order: every route, or
// only the route named only.
func (e *Engine) Match(ctx context.Context, ev *Event, only string) ([]*Route, error) {
	all, err := e.filters.match(ctx, ev.value)
	if err != nil {
		return nil, err
	}
	if only != "" {
		r, ok := e.byName[only]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoRoute, only)
		}
		for _, i := range all {
			if i == r.index {
				return []*Route{r}, nil
			}
		}
		return nil, nil
	}
	out := make([]*Route, len(all))
	for j, i := range all {
		out[j] = e.routes[i]
	}
	return out, nil
}

// Render renders the template of each route for ev; routes sharing a
// template render it once.
func (e *Engine) Render(ctx context.Context, ev *Event, routes []*Route) ([]Match, error) {
	out := make([]Match, 0, len(routes))
	var cache map[string]rendered
	for _, r := range routes {
		out1, ok := cache[r.Template]
		if !ok {
			var err error
			if out1, err = r.tmpl.render(ctx, ev.value); err != nil {
				return nil, fmt.Errorf("route %q: %w", r.Name, err)
			}
			if cache == nil {
				cache = make(map[string]rendered, len(routes))
			}
			cache[r.Template] = out1
		}
		out = append(out, Match{Route: r, ev: ev, aggPkg: out1.AggregationPkg, Msg: action.Message{
			Title: out1.Title, Body: out1.Body, URL: out1.URL,
			Event: ev.Raw, EventID: ev.ID, Route: r.Name,
		}})
	}
	return out, nil
}

// Evaluate is Match then Render: what an event would send, before
// deduplication and aggregation.
func (e *Engine) Evaluate(ctx context.Context, ev *Event, only string) ([]Match, error) {
	routes, err := e.Match(ctx, ev, only)
	if err != nil || len(routes) == 0 {
		return nil, err
	}
	return e.Render(ctx, ev, routes)
}

// Routes returns the compiled routes in config order.
func (e *Engine) Routes() []*Route { return e.routes }

// Route returns the route named name.
func (e *Engine) Route(name string) (*Route, bool) {
	r, ok := e.byName[name]
	return r, ok
}

// LocalSteps returns the steps of r that run in this process.
func (e *Engine) LocalSteps(r *Route) []Step {
	var out []Step
	for _, s := range r.Steps {
		if e.opts.Here(s.RunsOn) {
			out = append(out, s)
		}
	}
	return out
}

// From is the runner that reported the event a match came from.
func (m Match) From() string {
	if m.ev == nil {
		return ""
	}
	return m.ev.From
}

// FromRan reports whether the reporting runner ran its own actions.
func (m Match) FromRan() bool { return m.ev != nil && m.ev.FromRan }

// Host is the host of the event a match came from ("" if unknown).
func (m Match) Host() string {
	if m.ev == nil {
		return ""
	}
	return m.ev.Host
}

// Aggregated reports a message aggregated from held ones: a batch may be
// released again after a crash, so its steps' records must be read.
func (m Match) Aggregated() bool { return m.batch != nil }

// Event returns the event a match came from (nil for one built elsewhere).
func (m Match) Event() *Event { return m.ev }

// NewMatch builds the match of an already rendered message, e.g. a job
// the controller dispatched: its route, its message, and the event it came
// from (nil when unknown).
func NewMatch(r *Route, msg action.Message, ev *Event) Match {
	return Match{Route: r, Msg: msg, ev: ev}
}
