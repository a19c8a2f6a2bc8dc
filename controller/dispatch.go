package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
)

// job is the work of m's steps placed on runner.
func (f *fleet) job(runner string, m engine.Match, steps []engine.Step) transport.Job {
	job := transport.Job{
		Runner: runner, ID: m.Msg.EventID + "/" + m.Route.Name + "/" + runner, EventID: m.Msg.EventID, Route: m.Route.Name,
		Serialize: m.Route.Serialize, Title: m.Msg.Title, Body: m.Msg.Body, URL: m.Msg.URL, Event: m.Msg.Event,
		Revision: f.d.Config.revision(), Epoch: f.d.Config.epochID(),
	}
	for _, s := range steps {
		job.Actions = append(job.Actions, s.Action)
	}
	return job
}

// dispatch queues m's steps placed on runner, durably, under an id that
// JetStream deduplicates: an event handled again queues nothing twice. A
// job the servers can never take is logged and left out (retrying cannot
// help); Accept refuses the events likely to make one (413).
func (f *fleet) dispatch(ctx context.Context, runner string, m engine.Match, steps []engine.Step) error {
	if err := f.ensureConsumer(ctx, runner); err != nil {
		return err
	}
	job := f.job(runner, m, steps)
	b, err := transport.EncodeFor(f.bus.nc, job)
	if errors.Is(err, transport.ErrTooLarge) {
		f.log.Error("runner work can never be queued; not run", "runner", runner, "route", m.Route.Name, "event_id", m.Msg.EventID, logx.Err(err))
		return nil
	}
	if err != nil {
		return err
	}
	msg := nats.NewMsg(transport.Work(runner))
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, job.ID)
	ack, err := f.bus.js.PublishMsg(ctx, msg)
	if err = f.noteFull(runner, err); err != nil {
		return err
	}
	if !ack.Duplicate { // a duplicate is a job queued before: its event handled again
		f.mu.Lock()
		f.pending[runner]++
		f.mu.Unlock()
		f.d.Stats.dispatched(runner)
	}
	f.log.Info("work dispatched", "runner", runner, "route", m.Route.Name, "event_id", m.Msg.EventID, "actions", strings.Join(job.Actions, ","))
	return nil
}

// noteFull names the full queue in a refused publish and remembers it for
// /healthz, STATUS and the intake until the runner's queue has room again.
func (f *fleet) noteFull(runner string, err error) error {
	var why string
	if err != nil {
		switch msg := err.Error(); {
		case strings.Contains(msg, "maximum messages per subject exceeded"):
			why = fmt.Sprintf("work queue %s of runner %s is full (runner-queue-max-messages)", transport.Work(runner), runner)
		case strings.Contains(msg, "maximum bytes exceeded"), strings.Contains(msg, "insufficient resources"):
			why = fmt.Sprintf("work stream %s is full (work-max-bytes), job for runner %s refused", transport.WorkStream, runner)
		default:
			return fmt.Errorf("queue work: %w", err)
		}
	}
	f.mu.Lock()
	if why == "" {
		delete(f.full, runner)
	} else {
		f.full[runner] = why
	}
	f.mu.Unlock()
	if why != "" {
		return fmt.Errorf("%s: %w", why, err)
	}
	return nil
}

// queueFull is why runner's queue refuses work ("" while it has room).
func (f *fleet) queueFull(runner string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.full[runner]
}

// fullQueues are the reasons of the queues that refused their last job.
func (f *fleet) fullQueues() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.full))
	for _, why := range f.full {
		out = append(out, why)
	}
	sort.Strings(out)
	return out
}

// refreshPending reads how much work waits for each runner from the work
// stream's state (one request for the whole fleet), and forgets full
// queues that have room again.
func (f *fleet) refreshPending(ctx context.Context) {
	t := time.NewTicker(f.d.Timings.PendingRefresh)
	defer t.Stop()
	limit := uint64(f.d.Settings.limits().WithDefaults().RunnerMaxMessages)
	closed := f.bus.nc.StatusChanged(nats.CLOSED)
	for {
		if err := f.readPending(ctx, limit); err != nil && ctx.Err() == nil && f.bus.nc.IsConnected() {
			f.log.Debug("work queue sizes not read", logx.Err(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-t.C:
		}
	}
}

func (f *fleet) readPending(ctx context.Context, limit uint64) error {
	st, err := f.bus.js.Stream(ctx, transport.WorkStream)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(transport.AllWork))
	if err != nil {
		return err
	}
	counts := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		counts[transport.SubjectRunner(subj)] = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = counts
	for runner, why := range f.full {
		if strings.Contains(why, "runner-queue-max-messages") && counts[runner] < limit {
			delete(f.full, runner)
		}
	}
	return nil
}

// placeRunnerSteps groups m's runner steps by runner: @origin resolved to
// the runner entitled to the event's host, the reporting runner's own
// steps left out when it ran them.
func (c *Controller) placeRunnerSteps(m engine.Match) (order []string, steps map[string][]engine.Step) {
	from, id := m.From(), m.Msg.EventID
	steps = map[string][]engine.Step{}
	for _, s := range m.Route.Steps {
		if s.RunsOn == "" {
			continue
		}
		runner := s.RunsOn
		if runner == engine.Origin {
			if runner = c.originRunner(m); runner == "" {
				c.log.Warn("no runner entitled to the event's host; origin action not run", "route", m.Route.Name, "action", s.Action, "host", m.Host(), "event_id", id)
				continue
			}
		}
		if runner == from && m.FromRan() {
			continue // the reporting runner ran its own actions
		}
		if _, ok := steps[runner]; !ok {
			order = append(order, runner)
		}
		steps[runner] = append(steps[runner], s)
	}
	return order, steps
}

// dispatch queues m's runner steps.
func (c *Controller) dispatch(ctx context.Context, m engine.Match) error {
	order, steps := c.placeRunnerSteps(m)
	var errs []error
	for _, runner := range order {
		if c.fleet == nil {
			c.log.Warn("action placed on a runner but controller mode is off; not run", "route", m.Route.Name, "runner", runner, "event_id", m.Msg.EventID)
			continue
		}
		if err := c.fleet.dispatch(ctx, runner, m, steps[runner]); err != nil {
			errs = append(errs, fmt.Errorf("runner %s: %w", runner, err))
		}
	}
	return errors.Join(errs...)
}

// originRunner is the runner of an event's host: the runner that reported
// it, or the one entitled to the host it names.
func (c *Controller) originRunner(m engine.Match) string {
	if from := m.From(); from != "" {
		return from
	}
	if c.fleet == nil || m.Host() == "" {
		return ""
	}
	return c.fleet.runnerOnHost(m.Host())
}

// jobsFit checks, for an event large enough that a job of it might not
// fit the servers' max payload, that every job it makes does: an event
// whose job can never be queued is refused (413) rather than taken and its
// runner actions dropped. Smaller events are not rendered here.
func (c *Controller) jobsFit(ctx context.Context, eng *engine.Engine, ev *engine.Event, routes []*engine.Route) error {
	if c.fleet == nil || int64(len(ev.Raw)) < c.fleet.bus.nc.MaxPayload()/8 || !hasRunnerSteps(routes) {
		return nil
	}
	ms, err := eng.Render(ctx, ev, routes)
	if err != nil {
		return err
	}
	for _, m := range ms {
		order, steps := c.placeRunnerSteps(m)
		for _, runner := range order {
			b, err := transport.Marshal(c.fleet.job(runner, m, steps[runner]))
			if err != nil {
				return err
			}
			if err := transport.Fits(c.fleet.bus.nc, len(b)); err != nil {
				return fmt.Errorf("route %q, job for runner %s: %w", m.Route.Name, runner, err)
			}
		}
	}
	return nil
}

func hasRunnerSteps(routes []*engine.Route) bool {
	for _, r := range routes {
		for _, s := range r.Steps {
			if s.RunsOn != "" {
				return true
			}
		}
	}
	return false
}

// fullFor is why an event matching routes cannot be taken now: a runner
// its routes place actions on has a full queue ("" when none has).
func (c *Controller) fullFor(routes []*engine.Route) string {
	if c.fleet == nil {
		return ""
	}
	for _, r := range routes {
		for _, s := range r.Steps {
			if s.RunsOn != "" && s.RunsOn != engine.Origin {
				if why := c.fleet.queueFull(s.RunsOn); why != "" {
					return why
				}
			}
		}
	}
	return ""
}
