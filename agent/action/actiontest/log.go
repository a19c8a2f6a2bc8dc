package actiontest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
)

// Logs captures what a logger wrote, as JSON lines.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

// Logger returns a debug-level logger writing into a new Logs.
func Logger() (*slog.Logger, *Logs) {
	l := &Logs{}
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Records returns the logged records, one map per line.
func (l *Logs) Records() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// Find returns the first record whose msg is msg.
func (l *Logs) Find(msg string) (map[string]any, bool) {
	for _, r := range l.Records() {
		if r[slog.MessageKey] == msg {
			return r, true
		}
	}
	return nil, false
}
