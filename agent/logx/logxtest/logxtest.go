// Package logxtest checks, in tests, that the daemons keep logx's promise:
// every record at level ERROR carries its error under logx.ErrorKey, so
// journalctl POSTEE_ERROR= finds every error.
package logxtest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/logx"
)

// Checker wraps handlers and remembers the error records without the key.
type Checker struct {
	mu  sync.Mutex
	bad []string // guarded by mu: messages of records without the error key
}

// Wrap returns a handler that passes every record to next and notes error
// records without logx.ErrorKey.
func (c *Checker) Wrap(next slog.Handler) slog.Handler { return &handler{c: c, next: next} }

// Check fails t for every error record logged without the error key.
func (c *Checker) Check(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, msg := range c.bad {
		t.Errorf("error record without %q: %q", logx.ErrorKey, msg)
	}
}

type handler struct {
	c      *Checker
	next   slog.Handler
	hasErr bool // an attribute added with With carries the key
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && !h.hasErr {
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = a.Key == logx.ErrorKey
			return !found
		})
		if !found {
			h.c.mu.Lock()
			h.c.bad = append(h.c.bad, r.Message)
			h.c.mu.Unlock()
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.hasErr
	for _, a := range as {
		has = has || a.Key == logx.ErrorKey
	}
	return &handler{c: h.c, next: h.next.WithAttrs(as), hasErr: has}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{c: h.c, next: h.next.WithGroup(name), hasErr: h.hasErr}
}
