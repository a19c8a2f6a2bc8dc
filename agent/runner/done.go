package runner

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// doneSet remembers the ids of the jobs this runner executed, on disk, so a
// job redelivered after a crash (executed, not yet acked) is acked without
// running again. The file is rewritten with the newest half when it grows
// past doneMax entries.
type doneSet struct {
	path  string
	mu    sync.Mutex
	ids   map[string]struct{} // guarded by mu
	order []string            // guarded by mu; oldest first
	f     *os.File            // guarded by mu
}

const doneMax = 200_000

func openDone(dir string) (*doneSet, error) {
	d := &doneSet{path: filepath.Join(dir, "done.log"), ids: map[string]struct{}{}}
	if f, err := os.Open(d.path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if id := strings.TrimSpace(sc.Text()); id != "" {
				d.add(id)
			}
		}
		f.Close()
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("idempotency log: %w", err)
	}
	d.f = f
	return d, nil
}

func (d *doneSet) add(id string) {
	if _, ok := d.ids[id]; ok {
		return
	}
	d.ids[id] = struct{}{}
	d.order = append(d.order, id)
}

// Has reports whether id was executed.
func (d *doneSet) Has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.ids[id]
	return ok
}

// Add records id durably (fsync) before the job is acked.
func (d *doneSet) Add(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.add(id)
	if _, err := d.f.WriteString(id + "\n"); err != nil {
		return err
	}
	if err := d.f.Sync(); err != nil {
		return err
	}
	if len(d.order) > doneMax {
		return d.compact()
	}
	return nil
}

func (d *doneSet) compact() error {
	keep := d.order[len(d.order)/2:]
	var b strings.Builder
	for _, id := range keep {
		b.WriteString(id + "\n")
	}
	if err := writeFileAtomic(d.path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	for _, id := range d.order[:len(d.order)/2] {
		delete(d.ids, id)
	}
	d.order = append([]string(nil), keep...)
	d.f.Close()
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	d.f = f
	return err
}

func (d *doneSet) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}
