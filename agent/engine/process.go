package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// Match is a route that matched an event, with its rendered message.
type Match struct {
	Route *Route
	Msg   action.Message // Msg.Input is filled in by Run, when an action runs
	// Held is set for a route that aggregates: the message waits to be sent
	// with others (through Options.OnFlush); run nothing for it now.
	Held   bool
	ev     *Event
	aggPkg string
}

// Evaluate matches ev against every route (or only the route named only)
// and renders each match's template; routes sharing a template render once.
// A route whose unique-message-props were seen within the timeout is left
// out.
func (e *Engine) Evaluate(ctx context.Context, ev *Event, only string) ([]Match, error) {
	idx, err := e.matchIndexes(ctx, ev, only)
	if err != nil {
		return nil, err
	}
	out := make([]Match, 0, len(idx))
	cache := map[string]rendered{}
	for _, i := range idx {
		r := e.routes[i]
		if !e.dedup.first(r, ev) {
			e.log.Debug("duplicate message skipped", "route", r.Name, "event_id", ev.ID)
			continue
		}
		out1, ok := cache[r.Template]
		if !ok {
			out1, err = r.tmpl.render(ctx, ev.value)
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r.Name, err)
			}
			cache[r.Template] = out1
		}
		m := Match{Route: r, Msg: action.Message{
			Title: out1.Title, Body: out1.Body, URL: out1.URL,
			Event: ev.Raw, EventID: ev.ID, Route: r.Name,
		}, ev: ev, aggPkg: out1.AggregationPkg}
		if e.agg != nil && r.aggregates() {
			send := e.agg.add(ctx, m)
			if len(send) == 0 {
				m.Held = true
				send = []Match{m}
			}
			out = append(out, send...)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// ErrNoRoute is returned for a route name that is not configured.
var ErrNoRoute = errors.New("no such route")

func (e *Engine) matchIndexes(ctx context.Context, ev *Event, only string) ([]int, error) {
	all, err := e.filters.match(ctx, ev.value)
	if err != nil {
		return nil, err
	}
	if only == "" {
		return all, nil
	}
	r, ok := e.byName[only]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoRoute, only)
	}
	for _, i := range all {
		if i == r.index {
			return []int{i}, nil
		}
	}
	return nil, nil
}

// Run executes the given steps of a match in this process: one after
// another in order when the route serializes its actions, concurrently
// otherwise. Each failure is logged; the joined errors are returned.
func (e *Engine) Run(ctx context.Context, m Match, steps []Step) error {
	if m.Msg.Input == nil && m.ev != nil {
		m.Msg.Input = m.ev.Doc()
	}
	if m.Route.Serialize {
		var errs []error
		for _, s := range steps {
			errs = append(errs, e.Send(ctx, m.Msg, s.Action))
		}
		return errors.Join(errs...)
	}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.Send(ctx, m.Msg, s.Action)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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

// Observer hears each action attempt: Outcome is "retried" for an attempt
// that will be tried again, then "ok" or "failed" with the whole duration.
type Observer interface {
	ActionDone(ActionResult)
}

// ActionResult is one action attempt as an Observer hears it.
type ActionResult struct {
	Route, Action, Type string
	Outcome             string // ok, failed, retried
	Duration            time.Duration
	Err                 error // nil when ok
}

func (e *Engine) observe(msg action.Message, name, outcome string, d time.Duration, err error) {
	if e.opts.Observer == nil {
		return
	}
	typ := ""
	for i := range e.cfg.Actions {
		if e.cfg.Actions[i].Name == name {
			typ = e.cfg.Actions[i].Type
			break
		}
	}
	e.opts.Observer.ActionDone(ActionResult{Route: msg.Route, Action: name, Type: typ, Outcome: outcome, Duration: d, Err: err})
}

// Send runs one action with the retry policy and logs the outcome.
func (e *Engine) Send(ctx context.Context, msg action.Message, name string) error {
	a, ok := e.actions[name]
	if !ok {
		return fmt.Errorf("action %q is not available in this process", name)
	}
	log := e.log.With("route", msg.Route, "action", name, "event_id", msg.EventID)
	start := time.Now()
	backoff := e.opts.Retry.Base
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = a.Send(ctx, msg)
		err = e.redact.error(err) // the one redaction point: logged here, returned to the runner's report
		if err == nil {
			log.Info("action done", "duration", time.Since(start).Round(time.Microsecond), "attempts", attempt)
			e.observe(msg, name, "ok", time.Since(start), nil)
			return nil
		}
		if !retry || attempt >= e.opts.Retry.Attempts || ctx.Err() != nil {
			break
		}
		log.Warn("action failed, will retry", "attempt", attempt, "backoff", backoff, logx.Err(err))
		e.observe(msg, name, "retried", time.Since(start), err)
		select {
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		case <-time.After(backoff):
			backoff *= 2
			continue
		}
		break
	}
	log.Error("action failed", "duration", time.Since(start).Round(time.Microsecond), logx.Err(err))
	e.observe(msg, name, "failed", time.Since(start), err)
	return fmt.Errorf("action %q: %w", name, err)
}

// Handle evaluates ev and runs every local step of every match. It returns
// the matches so the caller can place the remote steps.
func (e *Engine) Handle(ctx context.Context, ev *Event, only string) ([]Match, error) {
	ms, err := e.Evaluate(ctx, ev, only)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		steps := e.LocalSteps(m.Route)
		if len(steps) == 0 || m.Held {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Run(ctx, m, steps) // failures are logged by Send
		}()
	}
	wg.Wait()
	return ms, nil
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

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }
