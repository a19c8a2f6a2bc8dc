package runner

import (
	"context"
	"encoding/json"
	"github.com/postee-fleet/posteed/agent/logx"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/intake/tracefile"
)

// Tracee lines take a faster path than webhook events: a line is spooled
// for the controller as it is read (the follower has checked it is JSON,
// so it is not parsed for that), and the runner's own routes evaluate it
// in a pool of workers, one per CPU. Ingest is then bound by the spool, not
// by Rego; the bounded queue holds the follower back when evaluation falls
// behind. A clean stop evaluates everything queued; after a crash, lines
// whose offset was not yet committed are read again (same event id).

type lineJob struct {
	raw []byte
	id  string
	// eng is the engine in use when the line was spooled, whose revision
	// its envelope carries: the controller relies on that revision to know
	// whether the runner ran its own routes for the line (nil: it did not).
	eng *engine.Engine
}

// lineQueue is how many read lines may wait for evaluation.
const lineQueue = 4096

func (r *Runner) startLineWorkers() *sync.WaitGroup {
	r.lines = make(chan lineJob, lineQueue)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range r.lines {
				r.evalLine(j)
				r.evaluated.Add(1)
				r.metrics.TracefileEvents.Inc()
				r.inflight.Done()
			}
		}()
	}
	return &wg
}

func (r *Runner) onLine(ctx context.Context, l tracefile.Line) error {
	id := lineEventID(r.opts.Settings.Name, l.FileKey, l.Offset)
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return ErrStopping
	}
	r.inflight.Add(1)
	r.mu.Unlock()
	eng, rev := r.current()
	if err := r.spool.Append(r.envelope(id, rev, l.Data)); err != nil {
		r.inflight.Done()
		return err
	}
	select {
	case r.lines <- lineJob{raw: append([]byte(nil), l.Data...), id: id, eng: eng}:
		return nil
	case <-ctx.Done():
		// Not committed: the line is read again after a restart, spooled
		// again under the same id (dropped upstream) and evaluated then.
		r.inflight.Done()
		return ctx.Err()
	}
}

func (r *Runner) evalLine(j lineJob) {
	eng := j.eng
	if eng == nil {
		return
	}
	ev, err := engine.ParseEvent(j.raw, j.id)
	if err != nil {
		r.log.Warn("tracee line not evaluated", "event_id", j.id, logx.Err(err))
		return
	}
	ctx := context.Background()
	ms, err := eng.Evaluate(ctx, ev, "")
	if err != nil {
		r.log.Error("tracee line not evaluated", "event_id", j.id, logx.Err(err))
		return
	}
	for _, m := range ms {
		if steps := eng.LocalSteps(m.Route); len(steps) > 0 && !m.Held {
			r.inflight.Add(1)
			go func() { defer r.inflight.Done(); _ = eng.Run(ctx, m, steps) }()
		}
	}
}

// envelope is transport.Envelope's JSON for a one-line event evaluated at
// config revision rev, built without decoding and re-encoding the event.
// A line has no route.
func (r *Runner) envelope(id string, rev int64, raw []byte) []byte {
	r.headOnce.Do(func() {
		head, _ := json.Marshal(struct {
			Runner    string `json:"runner"`
			Host      string `json:"host"`
			MachineID string `json:"machine_id,omitempty"`
		}{r.opts.Settings.Name, r.opts.Hostname, r.opts.MachineID})
		r.envHead = append(head[:len(head)-1], `,"event_id":"`...)
	})
	b := make([]byte, 0, len(r.envHead)+len(id)+len(raw)+64)
	b = append(b, r.envHead...)
	b = append(b, id...)
	b = append(b, `","received":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","revision":`...)
	b = strconv.AppendInt(b, rev, 10)
	b = append(b, `,"event":`...)
	b = append(b, raw...)
	return append(b, '}')
}
