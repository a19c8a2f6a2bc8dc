package natsd_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

type logRecord struct {
	level slog.Level
	msg   string
	keys  []string // attribute keys, those added by With included
}

// recorder keeps every record at any level.
type recorder struct {
	mu      *sync.Mutex
	records *[]logRecord
	attrs   []string
}

func newRecorder() recorder { return recorder{mu: new(sync.Mutex), records: new([]logRecord)} }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	keys := append([]string(nil), r.attrs...)
	rec.Attrs(func(a slog.Attr) bool { keys = append(keys, a.Key); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.records = append(*r.records, logRecord{rec.Level, rec.Message, keys})
	return nil
}

func (r recorder) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		r.attrs = append(append([]string(nil), r.attrs...), a.Key)
	}
	return r
}

func (r recorder) WithGroup(string) slog.Handler { return r }

func (r recorder) snapshot() []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logRecord(nil), *r.records...)
}

// TestServerLog: nats-server's start-up banner is at debug level, later
// notices at info, and no line carries an attribute twice (the controller
// tags the server's lines component=nats).
func TestServerLog(t *testing.T) {
	rec := newRecorder()
	p := natsdtest.NewPKI(t)
	o := p.ServerOptions(t)
	o.Logger = slog.New(rec).With("component", "nats")
	s, err := natsd.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	banner := rec.snapshot()
	s.Shutdown()
	after := rec.snapshot()[len(banner):]

	sawStart := false
	for _, r := range banner {
		sawStart = sawStart || strings.Contains(r.msg, "Starting nats-server")
		if r.level == slog.LevelInfo {
			t.Errorf("start-up line at INFO: %q", r.msg)
		}
	}
	if !sawStart {
		t.Errorf("no start-up banner at debug level among %d lines", len(banner))
	}
	infoAfter := false
	for _, r := range after {
		infoAfter = infoAfter || r.level == slog.LevelInfo
	}
	if !infoAfter {
		t.Errorf("no shutdown notice at INFO: %+v", after)
	}
	for _, r := range append(banner, after...) {
		seen := map[string]bool{}
		for _, k := range r.keys {
			if seen[k] {
				t.Errorf("%q carries %s twice: %v", r.msg, k, r.keys)
			}
			seen[k] = true
		}
	}
}
