package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/postee-fleet/posteed/agent/intake/tracefile"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
)

// traceeFiles follows the Tracee output files runner.toml's [discovery]
// lists, and the changes to that list.
type traceeFiles struct {
	deps traceeDeps
	log  *slog.Logger

	follower *tracefile.Follower
	mu       sync.Mutex
	paths    []string // guarded by mu: the paths the follower was given
}

type traceeDeps struct {
	Settings Settings // the files, the state directory, runner.toml
	Logger   *slog.Logger
	// Handle takes each line; BeforeCommit makes the lines taken durable
	// before their offsets are saved.
	Handle       func(context.Context, tracefile.Line) error
	BeforeCommit func() error
	Metrics      *metrics.Runner // lines by file: the intake counts good ones, the follower bad ones
	// Commit, Settle, RetryMin and RetryMax are Timings.TraceeCommit,
	// Settle, RetryMin and RetryMax.
	Commit, Settle, RetryMin, RetryMax time.Duration
}

// newTraceeFiles prepares the follower; nothing is opened before Run.
func newTraceeFiles(d traceeDeps) (*traceeFiles, error) {
	s := d.Settings
	f, err := tracefile.New(tracefile.Options{
		Paths: s.TraceeFiles, StateDir: s.StateDir, StartAtBeginning: s.StartAtBegin,
		Logger: d.Logger.With("component", "tracee-files"), Handle: d.Handle, BeforeCommit: d.BeforeCommit,
		BadLine: func(file string) { d.Metrics.TraceeBadLines.WithLabelValues(file).Inc() },
		// Lines past the last commit are read again after a crash: they
		// run nothing twice, but cost a re-evaluation each.
		CommitInterval: d.Commit, RetryMin: d.RetryMin, RetryMax: d.RetryMax,
	})
	if err != nil {
		return nil, fmt.Errorf("tracee files: %w", err)
	}
	t := &traceeFiles{deps: d, log: d.Logger, follower: f, paths: s.TraceeFiles}
	t.countFiles(s.TraceeFiles)
	return t, nil
}

var _ part = (*traceeFiles)(nil)

// Run follows the files, and runner.toml's list of them, until ctx is
// done.
func (t *traceeFiles) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { t.watchSettings(ctx) })
	if err := t.follower.Run(ctx); err != nil && ctx.Err() == nil {
		t.log.Error("tracee file watcher stopped", logx.Err(err))
	}
}

// countFiles starts the line counters of paths at 0, under the names the
// follower gives them (Line.Pattern: absolute), so that Prometheus sees
// the first bad line of a file as an increase.
func (t *traceeFiles) countFiles(paths []string) {
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			t.deps.Metrics.TraceeFile(abs)
		}
	}
}

func (t *traceeFiles) statusLine() string {
	fs := t.follower.Stats()
	return fmt.Sprintf(", %d tracee lines (%d bad) from %d files", fs.Lines, fs.BadLines, len(fs.Files))
}

// watchSettings re-reads runner.toml's [discovery] table whenever the file
// changes, once its writes settled. The watch is on the file's directory: editors and configuration
// managers replace the file by renaming a new one over it, which a watch on
// the file itself would not survive.
func (t *traceeFiles) watchSettings(ctx context.Context) {
	file, err := filepath.Abs(t.deps.Settings.ConfigFile)
	if err != nil || t.deps.Settings.ConfigFile == "" {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.log.Warn("runner.toml is not watched; reload with SIGHUP", logx.Err(err))
		return
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(file)); err != nil {
		t.log.Info("runner.toml is not watched; reload with SIGHUP", "file", file, logx.Err(err))
		return
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == file && !ev.Has(fsnotify.Chmod) {
				settle.Reset(t.deps.Settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			t.log.Warn("runner.toml watch lost events; re-reading it", logx.Err(err))
			settle.Reset(t.deps.Settle)
		case <-settle.C:
			t.reloadDiscovery()
		}
	}
}

// reloadDiscovery applies runner.toml's tracee-files. A missing, unreadable
// or invalid file keeps the files being followed: a half-written or
// mistyped runner.toml must not stop the intake.
func (t *traceeFiles) reloadDiscovery() {
	file := t.deps.Settings.ConfigFile
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		t.log.Warn("runner.toml is missing; keeping the running tracee files", "file", file)
		return
	}
	d, err := LoadDiscovery(file)
	if err != nil {
		t.log.Error("runner.toml not reloaded, keeping the running settings", "file", file, logx.Err(err))
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Equal(d.TraceeFiles, t.paths) {
		return
	}
	t.paths = d.TraceeFiles
	t.follower.SetPaths(d.TraceeFiles)
	t.countFiles(d.TraceeFiles)
	t.log.Info("tracee files reloaded", "paths", strings.Join(d.TraceeFiles, ","))
}
