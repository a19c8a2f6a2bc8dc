package tracefile

import (
	"context"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Follower follows the files named by its paths. Create it with New and
// drive it with Run; SetPaths and Stats are safe from any goroutine.
type Follower struct {
	opts      Options
	log       *slog.Logger
	statePath string
	running   atomic.Bool

	pathsChanged chan struct{} // capacity 1: a pending SetPaths

	mu           sync.Mutex
	nextPaths    []string            // guarded by mu
	pathsPending bool                // guarded by mu
	active       map[string]*tracker // guarded by mu: Run writes under it and reads without
	byID         map[fileID]*tracker // guarded by mu, like active; includes draining files
	totals       counters

	// Owned by Run's goroutine.
	watcher       *fsnotify.Watcher
	patterns      []string
	dirs          map[string]bool // directories with a watch in place
	saved         map[fileID]fileOffset
	knownPatterns map[string]bool // patterns watched before this run
	dirty         int             // lines or changes not yet committed
	lastCommit    time.Time
	commitFailing bool
	warned        map[string]string // path → last open error logged

	ready           chan struct{} // see Ready
	skipFinalCommit bool          // test hook: stop the way a crash would
}

type counters struct{ lines, bad, bytes atomic.Int64 }

// New checks opts and returns a Follower; nothing is opened before Run.
func New(opts Options) (*Follower, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	paths, _ := cleanPatterns(opts.Paths)
	return &Follower{
		opts:         opts,
		log:          opts.Logger,
		statePath:    filepath.Join(opts.StateDir, opts.StateFile),
		pathsChanged: make(chan struct{}, 1),
		nextPaths:    paths,
		pathsPending: true,
		active:       map[string]*tracker{},
		byID:         map[fileID]*tracker{},
		dirs:         map[string]bool{},
		warned:       map[string]string{},
		ready:        make(chan struct{}),
	}, nil
}

// SetPaths replaces the watched paths while running: files under new paths
// start being followed, files no longer matched are closed. Invalid paths
// are logged and left out.
func (f *Follower) SetPaths(paths []string) {
	valid := make([]string, 0, len(paths))
	for _, p := range paths {
		c, err := cleanPatterns([]string{p})
		if err != nil {
			f.log.Error("tracefile: ignoring path", "path", p, logx.Err(err))
			continue
		}
		valid = append(valid, c...)
	}
	f.mu.Lock()
	f.nextPaths, f.pathsPending = valid, true
	f.mu.Unlock()
	select {
	case f.pathsChanged <- struct{}{}:
	default:
	}
}

// Ready is closed once Run watches the initial paths and has committed
// where each existing file starts, before any backlog is read: files
// written to from then on are followed. It never closes if Run fails to
// start.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Run follows the files until ctx is done, then commits the offsets of the
// lines handled so far and returns. It may be called once.
func (f *Follower) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("tracefile: Run called twice")
	}
	if err := f.start(); err != nil {
		return err
	}
	defer f.closeAll()
	f.applyPaths(ctx, true)
	poll := time.NewTicker(f.opts.PollInterval)
	defer poll.Stop()
	tick := time.NewTicker(f.opts.CommitInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case ev, ok := <-f.watcher.Events:
			if !ok {
				return errors.Join(errors.New("tracefile: watcher closed"), f.stop())
			}
			f.onEvent(ctx, ev)
		case err := <-f.watcher.Errors:
			f.onWatchError(ctx, err)
		case <-f.pathsChanged:
			f.applyPaths(ctx, false)
		case <-poll.C:
			f.pollAll(ctx)
		case <-tick.C:
			f.commitIfDue()
		}
	}
	return f.stop()
}

func (f *Follower) start() error {
	if err := os.MkdirAll(f.opts.StateDir, 0o700); err != nil {
		return fmt.Errorf("tracefile: state dir: %w", err)
	}
	o, found, err := loadOffsets(f.statePath)
	if err != nil {
		return err
	}
	f.saved = parseSaved(o.Files, f.log)
	f.knownPatterns = map[string]bool{}
	for _, p := range o.Patterns {
		f.knownPatterns[p] = true
	}
	if found {
		f.log.Debug("tracefile: offsets loaded", "path", f.statePath, "files", len(f.saved))
	}
	f.watcher, err = fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("tracefile: watcher: %w", err)
	}
	f.lastCommit = time.Now()
	return nil
}

func parseSaved(files map[string]fileOffset, log *slog.Logger) map[fileID]fileOffset {
	saved := make(map[fileID]fileOffset, len(files))
	for k, e := range files {
		var id fileID
		if _, err := fmt.Sscanf(k, "%d:%d", &id.dev, &id.ino); err != nil {
			log.Warn("tracefile: ignoring saved offset with a bad key", "key", k)
			continue
		}
		saved[id] = e
	}
	return saved
}

// stop commits unless a crash is being simulated.
func (f *Follower) stop() error {
	if f.skipFinalCommit || f.dirty == 0 {
		return nil
	}
	return f.commit()
}

func (f *Follower) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, t := range f.byID {
		f.summarizeBad(t, true)
		t.f.Close()
		delete(f.byID, id)
	}
	clear(f.active)
	f.watcher.Close()
}
