package fleettest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/logx/logxtest"
)

// Logger is a logger for a test that checks every error record carries
// the error key (see logxtest); POSTEED_TEST_LOG=1 prints the records.
func Logger(t testing.TB) *slog.Logger {
	var h slog.Handler = slog.DiscardHandler
	if os.Getenv("POSTEED_TEST_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	c := &logxtest.Checker{}
	t.Cleanup(func() { c.Check(t) })
	return slog.New(c.Wrap(h))
}

// Logs keeps every record at level Info and above that its loggers write,
// so a test can await a daemon's own account of what happened (a refused
// connection, a failed reload) instead of guessing with a sleep.
type Logs struct {
	next slog.Handler // Logger's: the error-key check, and printing

	mu      sync.Mutex
	records []record      // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on each record
}

type record struct {
	msg   string
	attrs map[string]string // the logger's and the record's, as strings
	text  string            // the record as slog's text handler writes it
}

// NewLogs makes a store whose loggers are checked as Logger's are.
func NewLogs(t testing.TB) *Logs {
	return &Logs{next: Logger(t).Handler(), changed: make(chan struct{})}
}

// Logger is a logger that records into l, with daemon=daemon on each record.
func (l *Logs) Logger(daemon string) *slog.Logger {
	return slog.New(&handler{logs: l, next: l.next}).With("daemon", daemon)
}

// Has reports whether a record's message contains msg and its attributes
// hold every key=value pair in kv (a value matches if it contains value).
func (l *Logs) Has(msg string, kv ...string) bool {
	found, _ := l.find(msg, kv)
	return found
}

// Wait blocks until Has(msg, kv...) holds, or fails t after 15 s.
func (l *Logs) Wait(t testing.TB, msg string, kv ...string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		found, changed := l.find(msg, kv)
		if found {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("no log %q %v", msg, kv)
		}
	}
}

// Contains reports whether one record in text form (`level=ERROR msg=...
// key=value`) contains every one of parts.
func (l *Logs) Contains(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, r := range l.records {
		for _, p := range parts {
			if !strings.Contains(r.text, p) {
				continue next
			}
		}
		return true
	}
	return false
}

func (l *Logs) find(msg string, kv []string) (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, r := range l.records {
		if !strings.Contains(r.msg, msg) {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.Contains(r.attrs[kv[i]], kv[i+1]) {
				continue next
			}
		}
		return true, l.changed
	}
	return false, l.changed
}

func (l *Logs) add(r record) {
	l.mu.Lock()
	l.records = append(l.records, r)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// handler records into logs and passes every record on to next; groups
// are flattened (the daemons use none).
type handler struct {
	logs  *Logs
	next  slog.Handler
	attrs []slog.Attr
}

// Enabled asks next too, so a checked logger sees every level; only Info
// and above are kept, below that the embedded NATS server traces every
// protocol line.
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		h.logs.add(h.record(r))
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *handler) record(r slog.Record) record {
	rec := record{msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = fmt.Sprint(a.Value.Any())
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = fmt.Sprint(a.Value.Any())
		return true
	})
	var b bytes.Buffer
	_ = slog.NewTextHandler(&b, nil).WithAttrs(h.attrs).Handle(context.Background(), r)
	rec.text = b.String()
	return rec
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{logs: h.logs, next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{logs: h.logs, next: h.next.WithGroup(name), attrs: h.attrs}
}
