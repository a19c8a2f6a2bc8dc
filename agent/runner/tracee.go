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
	settings     Settings
	log          *slog.Logger
	handle       func(context.Context, tracefile.Line) error
	beforeCommit func() error
	metrics      *metrics.Runner // lines by file: the intake counts good ones, the follower bad ones

	follower *tracefile.Follower
	mu       sync.Mutex
	paths    []string // guarded by mu: the paths the follower was given
}

// start creates the follower and runs it in wg.
func (t *traceeFiles) start(ctx context.Context, wg *sync.WaitGroup) error {
	f, err := tracefile.New(tracefile.Options{
		Paths: t.settings.TraceeFiles, StateDir: t.settings.StateDir, StartAtBeginning: t.settings.StartAtBegin,
		Logger: t.log.With("component", "tracee-files"), Handle: t.handle, BeforeCommit: t.beforeCommit,
		BadLine: func(file string) { t.metrics.TraceeBadLines.WithLabelValues(file).Inc() },
		// Lines past the last commit are read again after a crash: they
		// run nothing twice, but cost a re-evaluation each.
		CommitInterval: 200 * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("tracee files: %w", err)
	}
	t.follower = f
	t.mu.Lock()
	t.paths = t.settings.TraceeFiles
	t.mu.Unlock()
	t.countFiles(t.settings.TraceeFiles)
	wg.Go(func() {
		if err := f.Run(ctx); err != nil && ctx.Err() == nil {
			t.log.Error("tracee file watcher stopped", logx.Err(err))
		}
	})
	return nil
}

// countFiles starts the line counters of paths at 0, under the names the
// follower gives them (Line.Pattern: absolute), so that Prometheus sees
// the first bad line of a file as an increase.
func (t *traceeFiles) countFiles(paths []string) {
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			t.metrics.TraceeFile(abs)
		}
	}
}

func (t *traceeFiles) statusLine() string {
	if t.follower == nil {
		return ""
	}
	fs := t.follower.Stats()
	return fmt.Sprintf(", %d tracee lines (%d bad) from %d files", fs.Lines, fs.BadLines, len(fs.Files))
}

// settleDelay lets an editor finish its writes (truncate, write, rename)
// before runner.toml is read.
const settleDelay = 100 * time.Millisecond

// watchSettings re-reads runner.toml's [discovery] table whenever the file
// changes. The watch is on the file's directory: editors and configuration
// managers replace the file by renaming a new one over it, which a watch on
// the file itself would not survive.
func (t *traceeFiles) watchSettings(ctx context.Context) {
	file, err := filepath.Abs(t.settings.ConfigFile)
	if err != nil || t.settings.ConfigFile == "" {
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
				settle.Reset(settleDelay)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			t.log.Warn("runner.toml watch lost events; re-reading it", logx.Err(err))
			settle.Reset(settleDelay)
		case <-settle.C:
			t.reloadDiscovery()
		}
	}
}

// reloadDiscovery applies runner.toml's tracee-files. A missing, unreadable
// or invalid file keeps the files being followed: a half-written or
// mistyped runner.toml must not stop the intake.
func (t *traceeFiles) reloadDiscovery() {
	file := t.settings.ConfigFile
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
	if slices.Equal(d.TraceeFiles, t.paths) || t.follower == nil {
		return
	}
	t.paths = d.TraceeFiles
	t.follower.SetPaths(d.TraceeFiles)
	t.countFiles(d.TraceeFiles)
	t.log.Info("tracee files reloaded", "paths", strings.Join(d.TraceeFiles, ","))
}
