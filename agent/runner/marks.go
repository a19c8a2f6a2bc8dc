package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/fsutil"
)

// fileMarks is the runner's idempotency log (done.log): how far each step
// got (engine.Marks), one line per change, "S <key>" when an action whose
// crash matters starts, "D <key>" when it ran. Lines are written at once
// (a process crash keeps them) and fsynced with the spool every second (a
// host crash may lose the last second). The log is rewritten with its
// newest half when it holds more than marksMax keys. A line with a bare key
// is a job id recorded by an earlier release: that job is done.
type fileMarks struct {
	path  string
	mu    sync.Mutex
	marks map[string]engine.Mark // guarded by mu
	order []string               // guarded by mu; oldest first
	f     *os.File               // guarded by mu
	dirty bool                   // guarded by mu
}

const marksMax = 200_000

var _ engine.Marks = (*fileMarks)(nil)

func openMarks(dir string) (*fileMarks, error) {
	m := &fileMarks{path: filepath.Join(dir, "done.log"), marks: map[string]engine.Mark{}}
	if f, err := os.Open(m.path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(line, "S "):
				m.set(line[2:], engine.MarkStarted)
			case strings.HasPrefix(line, "D "):
				m.set(line[2:], engine.MarkDone)
			case line != "":
				m.set(line, engine.MarkDone)
			}
		}
		f.Close()
	}
	f, err := os.OpenFile(m.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("idempotency log: %w", err)
	}
	m.f = f
	return m, nil
}

func (m *fileMarks) set(key string, mk engine.Mark) {
	if _, ok := m.marks[key]; !ok {
		m.order = append(m.order, key)
	}
	m.marks[key] = mk
}

// Mark implements engine.Marks.
func (m *fileMarks) Mark(_ context.Context, key string) (engine.Mark, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.marks[key], nil
}

// SetMark implements engine.Marks.
func (m *fileMarks) SetMark(_ context.Context, key string, mk engine.Mark) error {
	if strings.ContainsAny(key, "\n\r") {
		return fmt.Errorf("idempotency key %q has a line break", key)
	}
	tag := "D "
	if mk == engine.MarkStarted {
		tag = "S "
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.marks[key] == mk {
		return nil
	}
	if _, err := m.f.WriteString(tag + key + "\n"); err != nil {
		return fmt.Errorf("idempotency log: %w", err)
	}
	m.dirty = true
	m.set(key, mk)
	if len(m.order) > marksMax {
		return m.compact()
	}
	return nil
}

// Done reports whether key (a step or an earlier release's job id) ran.
func (m *fileMarks) Done(key string) bool {
	mk, _ := m.Mark(context.Background(), key)
	return mk == engine.MarkDone
}

func (m *fileMarks) compact() error {
	keep := m.order[len(m.order)/2:]
	var b strings.Builder
	for _, key := range keep {
		if m.marks[key] == engine.MarkStarted {
			b.WriteString("S " + key + "\n")
		} else {
			b.WriteString("D " + key + "\n")
		}
	}
	if err := fsutil.WriteFileAtomic(m.path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("idempotency log: %w", err)
	}
	for _, key := range m.order[:len(m.order)/2] {
		delete(m.marks, key)
	}
	m.order = append([]string(nil), keep...)
	m.f.Close()
	f, err := os.OpenFile(m.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("idempotency log: %w", err)
	}
	m.f, m.dirty = f, false
	return nil
}

// Sync makes the marks written so far durable.
func (m *fileMarks) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirty {
		return nil
	}
	m.dirty = false
	return m.f.Sync()
}

func (m *fileMarks) Close() error {
	err := m.Sync()
	m.mu.Lock()
	defer m.mu.Unlock()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}
