package controller_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecord is one log line a daemon wrote, its attributes as strings.
type logRecord struct {
	msg   string
	attrs map[string]string
}

// logRecorder keeps every record a daemon logs, so a test can await a
// daemon's own account of what happened (a refused connection, a failed
// reload) instead of guessing with a sleep.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord   // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on each record
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

// tee returns a handler that records everything and passes it on to next.
func (l *logRecorder) tee(next slog.Handler) slog.Handler { return &teeHandler{rec: l, next: next} }

func (l *logRecorder) add(r logRecord) {
	l.mu.Lock()
	l.records = append(l.records, r)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// find returns the records whose message contains msg and whose attributes
// hold every key=value pair in kv.
func (l *logRecorder) find(msg string, kv ...string) ([]logRecord, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if !strings.Contains(r.msg, msg) {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.Contains(r.attrs[kv[i]], kv[i+1]) {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, l.changed
}

func (l *logRecorder) has(msg string, kv ...string) bool {
	rs, _ := l.find(msg, kv...)
	return len(rs) > 0
}

// wait blocks until a matching record was logged, or fails t after 15 s.
func (l *logRecorder) wait(t *testing.T, msg string, kv ...string) logRecord {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		rs, changed := l.find(msg, kv...)
		if len(rs) > 0 {
			return rs[0]
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no log %q %v", msg, kv)
		}
	}
}

type teeHandler struct {
	rec   *logRecorder
	next  slog.Handler
	attrs []slog.Attr
}

// Enabled records Info and above; below that the embedded server would
// trace every protocol line.
func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	lr := logRecord{msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		lr.attrs[a.Key] = fmt.Sprint(a.Value.Any())
	}
	r.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = fmt.Sprint(a.Value.Any())
		return true
	})
	if r.Level >= slog.LevelInfo {
		h.rec.add(lr)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &teeHandler{rec: h.rec, next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup is not used by the daemons; groups are flattened.
func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{rec: h.rec, next: h.next.WithGroup(name), attrs: h.attrs}
}
