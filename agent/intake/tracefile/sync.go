package tracefile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/postee-fleet/posteed/agent/logx"

	"github.com/fsnotify/fsnotify"
)

func (f *Follower) onEvent(ctx context.Context, ev fsnotify.Event) {
	if f.dirs[ev.Name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		_ = f.watcher.Remove(ev.Name) // the kernel may have dropped it already
		delete(f.dirs, ev.Name)
		return
	}
	if f.active[ev.Name] != nil || f.matches(ev.Name) {
		f.syncPath(ctx, ev.Name, fromStart)
		return
	}
	// A rotated file renamed within the directory still reports its writes,
	// under a name we do not match.
	f.readDraining(ctx)
}

func (f *Follower) onWatchError(ctx context.Context, err error) {
	if err == nil {
		return
	}
	f.log.Warn("tracefile: watcher error, rescanning", logx.Err(err))
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		f.pollAll(ctx)
	}
}

// syncPath brings the file at path up to date: it reads what was appended,
// and when another file took the path (rotation) or none is there, it
// drains the old file and starts the new one.
func (f *Follower) syncPath(ctx context.Context, path string, mode startMode) {
	t := f.active[path]
	fi, err := os.Stat(path)
	var id fileID
	if err == nil {
		id, err = idOf(fi)
	}
	if t != nil && err == nil && t.id == id {
		f.readFile(ctx, t)
		return
	}
	if t != nil {
		f.readFile(ctx, t) // deliver the old file's lines before the new one's
		f.retire(t)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		delete(f.warned, path) // gone; a file created there later is news
		return
	case err != nil: // a symlink loop (ELOOP), no permission, ...
		f.warnOpen(path, fmt.Errorf("tracefile: %w", err))
		return
	case !fi.Mode().IsRegular():
		f.warnOpen(path, notRegular(path, fi))
		return
	}
	nt, err := f.open(path, mode)
	if err != nil {
		f.warnOpen(path, err)
		return
	}
	delete(f.warned, path)
	f.activate(nt, path)
	f.readFile(ctx, nt)
}

// warnOpen logs why a path is not followed (it cannot be opened, is not a
// regular file, is a symlink loop) once per distinct reason, not every poll.
func (f *Follower) warnOpen(path string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) { // the same reason from open and from stat
		err = fmt.Errorf("tracefile: %s: %w", pe.Path, pe.Err)
	}
	if f.warned[path] == err.Error() {
		return
	}
	f.warned[path] = err.Error()
	f.log.Warn("tracefile: not following file", "path", path, logx.Err(err))
}

func (f *Follower) activate(t *tracker, path string) {
	f.mu.Lock()
	if f.active[t.path] == t {
		delete(f.active, t.path) // renamed from one watched name to another
	}
	t.path, t.draining = path, false
	t.pattern = f.patternOf(path)
	f.active[path] = t
	f.byID[t.id] = t
	f.mu.Unlock()
}

func (f *Follower) retire(t *tracker) {
	f.mu.Lock()
	if f.active[t.path] == t {
		delete(f.active, t.path)
	}
	t.draining = true
	f.mu.Unlock()
	t.idleSince = time.Now()
}

func (f *Follower) closeTracker(t *tracker) {
	f.mu.Lock()
	delete(f.byID, t.id)
	if f.active[t.path] == t {
		delete(f.active, t.path)
	}
	f.mu.Unlock()
	f.summarizeBad(t, true)
	t.f.Close()
	f.dirty++
}

// readDraining reads rotated files and closes those idle for DrainGrace: a
// writer may keep appending to the old file until it reopens its output.
func (f *Follower) readDraining(ctx context.Context) {
	now := time.Now()
	for _, t := range f.byID {
		if !t.draining {
			continue
		}
		before := t.lr.readPos()
		f.readFile(ctx, t)
		switch {
		case t.lr.readPos() != before:
			t.idleSince = now
		case now.Sub(t.idleSince) >= f.opts.DrainGrace:
			f.log.Debug("tracefile: rotated file drained", "path", t.path, "file_key", t.key)
			f.closeTracker(t)
		}
	}
}

// openRotated finds files that were rotated while the runner was down:
// their dev:inode has a saved offset but no watched path holds them any
// more. One found in the same directory under another name is opened to be
// drained.
func (f *Follower) openRotated() []*tracker {
	var found []*tracker
	for id, e := range f.saved {
		dir := filepath.Dir(e.Path)
		if !f.dirs[dir] {
			continue
		}
		name, ok := findByID(dir, id)
		if !ok {
			continue
		}
		t, err := f.open(name, fromStart)
		if err != nil {
			f.warnOpen(name, err)
			continue
		}
		// Keep the path it was followed under: that is what its lines said
		// before the restart, and what keeps it matched by its pattern.
		f.mu.Lock()
		t.path, t.draining = e.Path, true
		f.byID[id] = t
		f.mu.Unlock()
		t.pattern = f.patternOf(e.Path)
		t.idleSince = time.Now()
		found = append(found, t)
	}
	return found
}

func findByID(dir string, id fileID) (string, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false
	}
	for _, de := range entries {
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if got, err := idOf(fi); err == nil && got == id {
			return filepath.Join(dir, de.Name()), true
		}
	}
	return "", false
}
