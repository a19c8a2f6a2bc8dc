package runner

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestConfigSyncRun: a fetch asked for is done by Run before fetchNow
// returns, and the directory of a replaced slice goes once its engine
// closed (Retire, shortened here).
func TestConfigSyncRun(t *testing.T) {
	dir := t.TempDir()
	var next atomic.Pointer[[]byte] // what the controller answers
	s := newConfigSync(syncDeps{Name: "r1", StateDir: dir, Registry: action.Default, Logger: slog.New(slog.DiscardHandler),
		Retire: 20 * time.Millisecond, Fetch: func(context.Context) ([]byte, error) { return *next.Load(), nil }})
	t.Cleanup(s.close)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	answer := func(rev int64, variant string) {
		b, _ := json.Marshal(unitSlice(t, "e1", rev, variant))
		next.Store(&b)
	}
	answer(1, "a")
	s.fetchNow(t.Context())
	if _, rev := s.current(); rev != 1 {
		t.Fatalf("revision %d after a fetch, want 1", rev)
	}
	answer(2, "b")
	s.refetch()
	s.refetch() // asked twice before Run took it: one fetch, no block
	fleettest.Eventually(t, "the new slice in use", func() bool { _, rev := s.current(); return rev == 2 })
	keep := s.slice().Digest[:16]
	fleettest.Eventually(t, "the replaced slice's directory removed", func() bool {
		entries, _ := os.ReadDir(filepath.Join(dir, "slices"))
		return len(entries) == 1 && entries[0].Name() == keep
	})
}
