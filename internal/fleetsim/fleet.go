package fleetsim

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fleet is what the simulated runners share: counters, the revisions they
// applied and when, and the jobs they finished.
type fleet struct {
	heartbeat time.Duration
	log       *logWatch // the runners' warnings and errors

	connected, consuming, fetches, disconnects, heartbeats atomic.Int64
	withSlice                                              atomic.Int64

	mu       sync.Mutex
	revTimes map[int64][]time.Time // guarded by mu: revision → when each runner applied it
	posted   map[string]time.Time  // guarded by mu: event id → when it was posted
	done     map[string]time.Time  // guarded by mu: event id → when its runner reported it done
	wrongJob int                   // guarded by mu: jobs reported by a runner the event did not name
	expect   map[string]string     // guarded by mu: event id → the runner it is for
}

func newFleet(heartbeat time.Duration) *fleet {
	return &fleet{heartbeat: heartbeat, log: newLogWatch(), revTimes: map[int64][]time.Time{},
		posted: map[string]time.Time{}, done: map[string]time.Time{}, expect: map[string]string{}}
}

// noteApplied records that a runner applied rev (its first slice, or a
// new revision).
func (f *fleet) noteApplied(first bool, rev int64, at time.Time) {
	if first {
		f.withSlice.Add(1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revTimes[rev] = append(f.revTimes[rev], at)
}

// applied counts the runners that applied rev, and when the last did.
func (f *fleet) applied(rev int64) (n int, last time.Time, times []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	times = slices.Clone(f.revTimes[rev])
	for _, t := range times {
		if t.After(last) {
			last = t
		}
	}
	return len(times), last, times
}

// maxRevision is the newest revision any runner applied.
func (f *fleet) maxRevision() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m int64
	for r := range f.revTimes {
		m = max(m, r)
	}
	return m
}

func (f *fleet) posting(id, runner string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posted[id] = at
	f.expect[id] = runner
}

func (f *fleet) jobDone(eventID, runner string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.done[eventID]; !ok {
		f.done[eventID] = at
	}
	if want, ok := f.expect[eventID]; ok && want != runner {
		f.wrongJob++
	}
}

// latencies are the posted events' latencies to their results, and how
// many have none yet.
func (f *fleet) latencies(ids []string) (lat []time.Duration, missing int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		d, ok := f.done[id]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, d.Sub(f.posted[id]))
	}
	slices.Sort(lat)
	return lat, missing
}

// countHandler is the simulated runners' logger: warnings and errors
// counted by message and error text, nothing written.
type countHandler struct {
	w     *logWatch
	attrs []slog.Attr
}

func (h *countHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	add := func(a slog.Attr) bool {
		if a.Key == "error" {
			msg += ": " + normalize(a.Value.String())
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := "WARN"
	if r.Level >= slog.LevelError {
		level = "ERROR"
	}
	h.w.mu.Lock()
	key := level + " " + msg
	if h.w.counts[key] == 0 {
		h.w.first[key] = strings.TrimSpace(r.Time.Format(time.TimeOnly) + " " + msg)
	}
	h.w.counts[key]++
	h.w.mu.Unlock()
	return nil
}

func (h *countHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countHandler{w: h.w, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *countHandler) WithGroup(string) slog.Handler { return h }
