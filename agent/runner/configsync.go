package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/fsutil"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
)

// configSync owns the config slice in use: it applies the slices the
// controller sends (and the cached one at start), compiles each with the
// same code as the controller, swaps it in atomically and caches it on
// disk, so the runner starts and keeps working while the controller is
// down. A bad slice leaves the running one.
type configSync struct {
	deps     syncDeps
	cur      atomic.Pointer[inUse] // nil before the first slice
	mu       sync.Mutex            // serializes applications and prunes
	applied  chan struct{}         // closed once a slice is in use
	once     sync.Once
	retired  engine.Retirer     // replaced engines, closed after Retire or at stop
	fetches  chan chan struct{} // fetch requests for Run; a request's channel (if any) is closed once done
	retiring chan struct{}      // an engine was retired: prune its directory once it closed
}

type syncDeps struct {
	Name     string
	StateDir string
	Registry *action.Registry
	Logger   *slog.Logger
	// Applied is called after a new slice is in use (the heartbeat then
	// reports it at once).
	Applied func()
	// Observer hears every action attempt of the slices' engines.
	Observer engine.Observer
	// Fetch reads the current slice from the controller (nil, nil while
	// it is unreachable).
	Fetch func(ctx context.Context) ([]byte, error)
	// Retire is how long a replaced engine stays open (Timings.Retire).
	Retire time.Duration
}

// inUse is the slice in use with its engine, swapped as one so that an
// event is reported with the revision of the engine that evaluated it.
type inUse struct {
	eng   *engine.Engine
	slice *transport.Slice
}

func newConfigSync(d syncDeps) *configSync {
	if d.Applied == nil {
		d.Applied = func() {}
	}
	if d.Fetch == nil {
		d.Fetch = func(context.Context) ([]byte, error) { return nil, nil }
	}
	return &configSync{deps: d, applied: make(chan struct{}), fetches: make(chan chan struct{}, 1), retiring: make(chan struct{}, 1)}
}

var _ part = (*configSync)(nil)

// Run fetches the slice whenever asked (the connection came up, a reload)
// and removes the directories of replaced slices once their engines
// closed, until ctx is done. Pushed slices are applied as they come.
func (s *configSync) Run(ctx context.Context) {
	prune := time.NewTimer(s.deps.Retire)
	prune.Stop()
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case done := <-s.fetches:
			s.fetch(ctx)
			if done != nil {
				close(done)
			}
		case <-s.retiring:
			prune.Reset(s.deps.Retire)
		case <-prune.C:
			if s.prune() {
				prune.Reset(s.deps.Retire) // closed just after the timer fired
			}
		}
	}
}

// refetch asks Run to fetch the slice, without waiting for it.
func (s *configSync) refetch() {
	select {
	case s.fetches <- nil:
	default: // a fetch is asked for already
	}
}

// fetchNow has Run fetch the slice and waits until it is applied or
// refused, or ctx is done.
func (s *configSync) fetchNow(ctx context.Context) {
	done := make(chan struct{})
	select {
	case s.fetches <- done:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (s *configSync) fetch(ctx context.Context) {
	b, err := s.deps.Fetch(ctx)
	switch {
	case err != nil:
		s.deps.Logger.Warn("cannot fetch config from the controller", logx.Err(err))
	case b != nil:
		s.receive(ctx, b)
	}
}

// current returns the engine in use and its revision (nil, 0 before the
// first slice).
func (s *configSync) current() (*engine.Engine, int64) {
	if c := s.cur.Load(); c != nil {
		return c.eng, c.slice.Revision
	}
	return nil, 0
}

// slice is the slice in use (nil before the first).
func (s *configSync) slice() *transport.Slice {
	if c := s.cur.Load(); c != nil {
		return c.slice
	}
	return nil
}

func (s *configSync) cachePath() string { return filepath.Join(s.deps.StateDir, "slice.json") }

// loadCache starts from the last good slice.
func (s *configSync) loadCache(ctx context.Context) {
	b, err := os.ReadFile(s.cachePath())
	if err != nil {
		return
	}
	var sl transport.Slice
	if err := json.Unmarshal(b, &sl); err != nil {
		s.deps.Logger.Warn("cached config unreadable; waiting for the controller", logx.Err(err))
		return
	}
	if err := s.apply(ctx, &sl); err == nil {
		s.deps.Logger.Info("started from cached config", "config_revision", sl.Revision)
	}
}

// receive applies a slice message; a malformed one is logged and ignored.
func (s *configSync) receive(ctx context.Context, data []byte) {
	var sl transport.Slice
	if err := json.Unmarshal(data, &sl); err != nil {
		s.deps.Logger.Warn("config message that is not a slice ignored", logx.Err(err))
		return
	}
	_ = s.apply(ctx, &sl)
}

// errForeignSlice is a slice for another runner: anything can be reflected
// onto our subjects (see controller/natsd), so it is ignored.
var errForeignSlice = errors.New("slice is for another runner")

// apply compiles a slice and swaps it in; a bad slice leaves the running
// one. Every refusal is logged here.
func (s *configSync) apply(ctx context.Context, sl *transport.Slice) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.deps.Logger.With("config_revision", sl.Revision)
	if sl.Runner != s.deps.Name {
		log.Warn("config message for another runner ignored", "slice_runner", sl.Runner)
		return errForeignSlice
	}
	// Only a self-consistent slice is applied.
	if sl.Digest == "" || transport.SliceDigest(sl) != sl.Digest {
		log.Warn("config message with a wrong digest ignored")
		return errors.New("slice digest mismatch")
	}
	cur := s.cur.Load()
	if cur != nil && olderThan(sl, cur.slice) {
		log.Info("older config ignored", "running_revision", cur.slice.Revision, "epoch", sl.Epoch)
		return nil
	}
	if cur != nil && cur.slice.Digest == sl.Digest {
		if cur.slice.Revision != sl.Revision {
			s.cur.Store(&inUse{eng: cur.eng, slice: sl})
			s.saveCache(sl)
			log.Info("config revision unchanged in content")
			s.deps.Applied()
		}
		return nil
	}
	restore := tightGC()
	eng, err := s.compile(ctx, sl)
	restore()
	if err != nil {
		log.Error("config slice rejected, keeping the running one", logx.Err(err))
		return err
	}
	old := s.cur.Swap(&inUse{eng: eng, slice: sl})
	s.saveCache(sl)
	s.once.Do(func() { close(s.applied) })
	log.Info("config applied", "routes", len(eng.Routes()))
	// Compiling a slice leaves megabytes of garbage; hand it back to the
	// host now rather than when the heap next grows (idle RSS matters on
	// every host of a fleet).
	go debug.FreeOSMemory()
	s.deps.Applied()
	if old != nil {
		s.retired.Retire(old.eng, s.deps.Retire) // work in flight on it finishes first
		select {
		case s.retiring <- struct{}{}:
		default:
		}
	}
	s.pruneSlices()
	return nil
}

// compileGCPercent is the collector's target while a slice compiles. The
// compiler allocates many times what it keeps: collected as it goes, the
// compiled templates end up in few spans rather than scattered over a
// heap grown to the compiler's peak, which would stay fragmented for as
// long as the slice is in use (idle RSS 0.3-0.4 MiB less for the seed
// config, and a lower peak). Slices compile seldom; the extra collections
// cost milliseconds.
const compileGCPercent = 10

// tightGC sets compileGCPercent until restore is called.
func tightGC() (restore func()) {
	old := debug.SetGCPercent(compileGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// olderThan reports whether sl is older than cur: revisions only grow
// within one epoch, and a new epoch (a controller whose counter may have
// restarted) makes them incomparable. A slice without an epoch is never
// called older, so a controller that sends none is always followed.
func olderThan(sl, cur *transport.Slice) bool {
	return sl.Epoch != "" && sl.Epoch == cur.Epoch && sl.Revision < cur.Revision
}

func (s *configSync) saveCache(sl *transport.Slice) {
	b, _ := json.Marshal(sl)
	if err := fsutil.WriteFileAtomic(s.cachePath(), b, 0o600); err != nil {
		s.deps.Logger.Warn("cannot cache config", logx.Err(err))
	}
}

// compile writes the slice into its own directory and loads it like any
// cfg.yaml, so the runner validates it with the same code as the
// controller.
func (s *configSync) compile(ctx context.Context, sl *transport.Slice) (*engine.Engine, error) {
	if len(sl.Digest) < 16 {
		return nil, errors.New("slice has no digest")
	}
	dir := filepath.Join(s.deps.StateDir, "slices", sl.Digest[:16])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for name, content := range sl.Files {
		clean := filepath.Clean(name)
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return nil, fmt.Errorf("slice file %q escapes the slice directory", name)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	cfgFile := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfgFile, []byte(sl.Config), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return nil, err
	}
	name := s.deps.Name
	eng, err := engine.New(ctx, cfg, engine.Options{
		Registry: s.deps.Registry, Logger: s.deps.Logger, StateDir: s.deps.StateDir, Observer: s.deps.Observer,
		Here: func(runsOn string) bool { return runsOn == name || runsOn == engine.Origin },
	})
	if err != nil {
		return nil, err
	}
	engine.LogWarnings(s.deps.Logger, eng)
	return eng, nil
}

// prune removes the directories of retired engines that closed; true
// when it kept one still open.
func (s *configSync) prune() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pruneSlices()
}

// pruneSlices removes the directories of slices no engine uses any more:
// a replaced engine still runs scripts from its own until it is closed.
// The caller holds mu: a slice being compiled is in no engine yet. It
// reports whether it kept the directory of a replaced engine.
func (s *configSync) pruneSlices() (keptRetired bool) {
	keep := map[string]bool{}
	if e, _ := s.current(); e != nil {
		keep[e.Config().Dir] = true
	}
	live := s.retired.Live()
	for _, e := range live {
		keep[e.Config().Dir] = true
	}
	root := filepath.Join(s.deps.StateDir, "slices")
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if p := filepath.Join(root, e.Name()); !keep[p] {
			_ = os.RemoveAll(p)
		}
	}
	return len(live) > 0
}

// close closes every engine: the one in use and the replaced ones.
func (s *configSync) close() {
	s.retired.CloseAll()
	if e, _ := s.current(); e != nil {
		e.Close()
	}
}
