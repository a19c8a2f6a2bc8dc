package runner

import (
	"context"
	"errors"
	"github.com/postee-fleet/posteed/agent/logx"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settleDelay lets an editor finish its writes (truncate, write, rename)
// before runner.toml is read.
const settleDelay = 100 * time.Millisecond

// watchSettings re-reads runner.toml's [discovery] table whenever the file
// changes. The watch is on the file's directory: editors and configuration
// managers replace the file by renaming a new one over it, which a watch on
// the file itself would not survive.
func (r *Runner) watchSettings(ctx context.Context) {
	file, err := filepath.Abs(r.opts.Settings.ConfigFile)
	if err != nil || r.opts.Settings.ConfigFile == "" {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("runner.toml is not watched; reload with SIGHUP", logx.Err(err))
		return
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(file)); err != nil {
		r.log.Info("runner.toml is not watched; reload with SIGHUP", "file", file, logx.Err(err))
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
			r.log.Warn("runner.toml watch lost events; re-reading it", logx.Err(err))
			settle.Reset(settleDelay)
		case <-settle.C:
			r.reloadDiscovery()
		}
	}
}

// reloadDiscovery applies runner.toml's tracee-files. A missing, unreadable
// or invalid file keeps the files being followed: a half-written or
// mistyped runner.toml must not stop the intake.
func (r *Runner) reloadDiscovery() {
	file := r.opts.Settings.ConfigFile
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		r.log.Warn("runner.toml is missing; keeping the running tracee files", "file", file)
		return
	}
	d, err := LoadDiscovery(file)
	if err != nil {
		r.log.Error("runner.toml not reloaded, keeping the running settings", "file", file, logx.Err(err))
		return
	}
	r.discMu.Lock()
	defer r.discMu.Unlock()
	if slices.Equal(d.TraceeFiles, r.traceeFiles) || r.follower == nil {
		return
	}
	r.traceeFiles = d.TraceeFiles
	r.follower.SetPaths(d.TraceeFiles)
	r.log.Info("tracee files reloaded", "paths", strings.Join(d.TraceeFiles, ","))
}
