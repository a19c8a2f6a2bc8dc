package tracefile

import (
	"context"
	"github.com/postee-fleet/posteed/agent/logx"
	"path/filepath"
	"slices"
)

// applyPaths takes the paths last given to SetPaths (or New). Files that
// exist when their path is first watched start at the end unless the path
// was watched before this run (see the package comment).
func (f *Follower) applyPaths(ctx context.Context, initial bool) {
	f.mu.Lock()
	next, pending := f.nextPaths, f.pathsPending
	f.pathsPending = false
	f.mu.Unlock()
	if !pending {
		return
	}
	old := f.patterns
	f.patterns = next
	f.watchDirs()
	f.closeUnmatched()
	for _, t := range f.byID {
		t.pattern = f.patternOf(t.path)
	}
	var opened []string
	for _, p := range next {
		if slices.Contains(old, p) {
			continue
		}
		mode := fromEnd
		if f.opts.StartAtBeginning || (initial && f.knownPatterns[p]) {
			mode = fromStart
		}
		opened = append(opened, f.openPattern(p, mode)...)
	}
	var rotated []*tracker
	if initial {
		rotated = f.openRotated()
	}
	// Commit before reading: the patterns and the start offsets just chosen
	// decide where a restart begins, so they must not wait for a line.
	f.dirty++
	f.commit()
	if initial {
		close(f.ready)
	}
	for _, name := range opened {
		if ctx.Err() != nil {
			return
		}
		f.syncPath(ctx, name, fromStart)
	}
	for _, t := range rotated {
		f.readFile(ctx, t)
	}
}

// openPattern opens the files matching p that are not followed yet, without
// reading them.
func (f *Follower) openPattern(p string, mode startMode) []string {
	names, _ := filepath.Glob(p) // the pattern was checked by cleanPatterns
	var opened []string
	for _, name := range names {
		if f.active[name] != nil {
			continue
		}
		t, err := f.open(name, mode)
		if err != nil {
			f.warnOpen(name, err)
			continue
		}
		f.activate(t, name)
		opened = append(opened, name)
	}
	return opened
}

func (f *Follower) matches(name string) bool { return f.patternOf(name) != "" }

// patternOf is the first pattern that matches name ("" when none does).
func (f *Follower) patternOf(name string) string {
	for _, p := range f.patterns {
		if p == name {
			return p
		}
		if ok, _ := filepath.Match(p, name); ok && hasMeta(p) {
			return p
		}
	}
	return ""
}

// watchDirs watches the directory of every pattern, since files come and go
// by name; a directory that does not exist yet is retried on every poll.
func (f *Follower) watchDirs() {
	want := map[string]bool{}
	for _, p := range f.patterns {
		want[filepath.Dir(p)] = true
	}
	for d := range f.dirs {
		if !want[d] {
			_ = f.watcher.Remove(d) // fails when the directory is gone, which is fine
			delete(f.dirs, d)
		}
	}
	for d := range want {
		if f.dirs[d] {
			continue
		}
		if err := f.watcher.Add(d); err != nil {
			f.log.Debug("tracefile: cannot watch directory yet", "dir", d, logx.Err(err))
			continue
		}
		f.dirs[d] = true
	}
}

func (f *Follower) closeUnmatched() {
	for _, t := range f.byID {
		if !f.matches(t.path) {
			f.closeTracker(t)
		}
	}
}

// pollAll catches what events cannot: directories that appeared, missed
// events after a queue overflow, and rotated files that left the directory.
func (f *Follower) pollAll(ctx context.Context) {
	f.watchDirs()
	seen := map[string]bool{}
	for _, p := range f.patterns {
		names, _ := filepath.Glob(p)
		for _, name := range names {
			seen[name] = true
			f.syncPath(ctx, name, fromStart)
		}
	}
	for path := range f.active {
		if !seen[path] {
			f.syncPath(ctx, path, fromStart)
		}
	}
	f.readDraining(ctx)
}
