// Package stdout implements Postee's `stdout` action: it prints the rendered
// message. Under systemd, stdout is the journal.
package stdout

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/postee-fleet/posteed/agent/action"
)

func init() { action.Register("stdout", New) }

var _ action.Action = (*Stdout)(nil)

// Stdout writes each message's title and body to a writer.
type Stdout struct {
	name string
	mu   sync.Mutex
	w    io.Writer // guarded by mu, so concurrent messages do not interleave
}

// New builds the action writing to os.Stdout.
func New(spec action.Spec) (action.Action, error) { return NewWithWriter(spec, os.Stdout) }

// NewWithWriter builds the action writing to w.
func NewWithWriter(spec action.Spec, w io.Writer) (*Stdout, error) {
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err // it already names file, line, action and key
	}
	return &Stdout{name: spec.Name, w: w}, nil
}

// Send prints the title (when there is one) on its own line, then the body.
// A write error is not retried: stdout that fails once will fail again.
func (s *Stdout) Send(_ context.Context, m action.Message) (bool, error) {
	var b strings.Builder
	if m.Title != "" {
		b.WriteString(m.Title)
		b.WriteByte('\n')
	}
	b.WriteString(m.Body)
	if !strings.HasSuffix(m.Body, "\n") {
		b.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return false, fmt.Errorf("action %q: %w", s.name, err)
	}
	return false, nil
}
