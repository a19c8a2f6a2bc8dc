package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/logx"
)

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
	e.opts.Observer.ActionDone(ActionResult{Route: msg.Route, Action: name, Type: e.types[name], Outcome: outcome, Duration: d, Err: err})
}

// Send runs one action with the retry policy and logs the outcome. It is
// the one place action errors are redacted and logged.
func (e *Engine) Send(ctx context.Context, msg action.Message, name string) error {
	a, ok := e.actions[name]
	if !ok {
		return fmt.Errorf("action %q is not available in this process", name)
	}
	// Built when something is logged: most sends log one line at most.
	log := func() *slog.Logger { return e.log.With("route", msg.Route, "action", name, "event_id", msg.EventID) }
	start := time.Now()
	backoff := e.opts.Retry.Base
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = a.Send(ctx, msg)
		err = e.redact.error(err) // logged here, returned to the runner's report
		if err == nil {
			// Debug: a line per action is per-event formatting work at
			// INFO (the action metrics count them); failures are logged.
			if e.log.Enabled(ctx, slog.LevelDebug) {
				log().Debug("action done", "duration", time.Since(start).Round(time.Microsecond), "attempts", attempt)
			}
			e.observe(msg, name, "ok", time.Since(start), nil)
			return nil
		}
		if !retry || attempt >= e.opts.Retry.Attempts || ctx.Err() != nil {
			break
		}
		log().Warn("action failed, will retry", "attempt", attempt, "backoff", backoff, logx.Err(err))
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
	log().Error("action failed", "duration", time.Since(start).Round(time.Microsecond), logx.Err(err))
	e.observe(msg, name, "failed", time.Since(start), err)
	return fmt.Errorf("action %q: %w", name, err)
}

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }
