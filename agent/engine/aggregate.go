package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/logx"
)

// aggregate renders a batch of held messages as one, with the aggregation
// package their template names (input: an array of {title, description,
// url}) or, without one, as a list. When the package fails, the messages
// are returned one by one: better unaggregated than lost. Every message
// returned carries the batch, for Plugins.Done.
func (e *Engine) aggregate(ctx context.Context, b *Batch) ([]Match, error) {
	if len(b.Items) == 0 {
		return nil, nil
	}
	last := b.Items[len(b.Items)-1]
	r, ok := e.byName[last.Route]
	if !ok {
		return nil, fmt.Errorf("route %q of %d held messages is no longer configured", last.Route, len(b.Items))
	}
	ev := &Event{ID: b.ID(), Raw: last.Event, Host: last.Host, From: last.From, FromRan: last.FromRan}
	out := Match{Route: r, ev: ev, batch: b, Msg: action.Message{Title: last.Title, Body: last.Body, URL: last.URL,
		Event: last.Event, EventID: b.ID(), Route: r.Name}}
	if last.AggPkg == "" {
		titles := make([]string, len(b.Items))
		bodies := make([]string, len(b.Items))
		for i, h := range b.Items {
			titles[i], bodies[i] = h.Title, h.Body
		}
		out.Msg.Title = fmt.Sprintf("%d messages: %s", len(b.Items), strings.Join(titles, "; "))
		out.Msg.Body = strings.Join(bodies, "\n\n")
		return []Match{out}, nil
	}
	res, err := e.renderAggregation(ctx, r, last.AggPkg, b.Items)
	if err != nil {
		e.log.Error("aggregated message not rendered; sending the messages one by one", "route", r.Name, "messages", len(b.Items), logx.Err(err))
		return e.unaggregated(r, b), nil
	}
	out.Msg.Title, out.Msg.Body, out.Msg.URL = res.Title, res.Body, res.URL
	return []Match{out}, nil
}

// unaggregated returns each held message of b on its own.
func (e *Engine) unaggregated(r *Route, b *Batch) []Match {
	out := make([]Match, len(b.Items))
	for i, h := range b.Items {
		ev := &Event{ID: h.EventID, Raw: h.Event, Host: h.Host, From: h.From, FromRan: h.FromRan}
		out[i] = Match{Route: r, ev: ev, batch: b, Msg: action.Message{Title: h.Title, Body: h.Body, URL: h.URL,
			Event: h.Event, EventID: h.EventID, Route: r.Name}}
	}
	return out
}

func (e *Engine) renderAggregation(ctx context.Context, r *Route, pkg string, held []Held) (rendered, error) {
	q, err := e.aggQuery(ctx, r.tmpl, pkg)
	if err != nil {
		return rendered{}, err
	}
	items := make([]any, len(held))
	for i, h := range held {
		items[i] = map[string]any{"title": h.Title, "description": aggDescription(h.Body), "url": h.URL}
	}
	in, err := ast.InterfaceToValue(items)
	if err != nil {
		return rendered{}, err
	}
	return (&template{name: r.Template + " aggregation", pkg: pkg, query: *q}).render(ctx, in)
}

// aggQuery prepares (once per package) the query of an aggregation
// package, which a template names only in its output.
func (e *Engine) aggQuery(ctx context.Context, t *template, pkg string) (*preparedQuery, error) {
	e.aggMu.Lock()
	defer e.aggMu.Unlock()
	if q, ok := e.aggQueries[pkg]; ok {
		return q, nil
	}
	ref, err := pkgRef(pkg)
	if err != nil {
		return nil, err
	}
	pq, err := templateQuery(renderQuery(ref), t.c)
	if err != nil {
		return nil, fmt.Errorf("aggregation package %s: %w", pkg, err)
	}
	if e.aggQueries == nil {
		e.aggQueries = map[string]*preparedQuery{}
	}
	e.aggQueries[pkg] = &pq
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
