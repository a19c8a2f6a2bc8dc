package tracefile

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// stopAfter makes Handle cancel the run once n lines were handled, so the
// stop lands in the middle of a burst at a known line.
func stopAfter(n int, cancel *context.CancelFunc) func(Line, int) error {
	return func(_ Line, handled int) error {
		if handled == n-1 {
			(*cancel)()
		}
		return nil
	}
}

// runUntil runs a Follower until Handle cancels it (via stopAfter) and
// returns when Run has returned.
func runUntil(t *testing.T, opts Options, s *sink, n int, hook ...func(*Follower)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.before = stopAfter(n, &cancel)
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hook {
		h(f)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	s.before = nil
}

func TestRestartMidBurstExactlyOnce(t *testing.T) {
	tests := []struct {
		name        string
		total       int
		commitEvery int
		stopAt      int
	}{
		{"stop between commits", 20000, 1000, 7321},
		{"stop right after a commit", 20000, 1000, 3000},
		{"commit every line", 60, 1, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total := tt.total
			s := &sink{}
			path := filepath.Join(t.TempDir(), "tracee.json")
			appendFile(t, path, jsonLines("a", 0, total))
			opts := testOptions(t, s, path)
			opts.StartAtBeginning = true
			opts.CommitEvery = tt.commitEvery
			opts.CommitInterval = time.Hour
			runUntil(t, opts, s, tt.stopAt)
			if n := s.count(); n != tt.stopAt {
				t.Fatalf("first run handled %d lines, want %d", n, tt.stopAt)
			}
			appendFile(t, path, jsonLines("a", total, 100)) // written while stopped
			opts.StartAtBeginning = false                   // a known file resumes either way
			start(t, opts)
			waitFor(t, "every line", func() bool { return s.count() >= total+100 })
			assertExactlyOnce(t, s.data(), total+100)
			assertSequence(t, s.all(), "a", 0, total+100)
		})
	}
}

func assertExactlyOnce(t *testing.T, data []string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range data {
		seen[d]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf(`{"id":"a-%d"}`, i)]; c != 1 {
			t.Fatalf("line a-%d handled %d times", i, c)
		}
	}
	if len(data) != n {
		t.Fatalf("handled %d lines, want %d", len(data), n)
	}
}

// Without a final commit (a crash), the lines since the last commit come
// again with the same (FileKey, Offset): deduplicating on that pair gives
// every line once.
func TestCrashReplaysSameIdentity(t *testing.T) {
	const total, commitEvery, crashAt = 5000, 1000, 2500
	s := &sink{}
	path := filepath.Join(t.TempDir(), "tracee.json")
	appendFile(t, path, jsonLines("a", 0, total))
	opts := testOptions(t, s, path)
	opts.StartAtBeginning = true
	opts.CommitEvery = commitEvery
	opts.CommitInterval = time.Hour
	runUntil(t, opts, s, crashAt, func(f *Follower) { f.skipFinalCommit = true })
	start(t, opts)
	waitFor(t, fmt.Sprintf("every line (have %d)", s.count()), func() bool { return s.count() >= total+crashAt%commitEvery })

	type identity struct {
		key string
		off int64
	}
	unique := map[identity]string{}
	replays := 0
	for _, l := range s.all() {
		id := identity{l.FileKey, l.Offset}
		if prev, ok := unique[id]; ok {
			replays++
			if prev != string(l.Data) {
				t.Fatalf("identity %v carried %q then %q", id, prev, l.Data)
			}
			continue
		}
		unique[id] = string(l.Data)
	}
	if replays != crashAt%commitEvery {
		t.Errorf("%d lines replayed, want the %d since the last commit", replays, crashAt%commitEvery)
	}
	var deduped []string
	for _, d := range unique {
		deduped = append(deduped, d)
	}
	assertExactlyOnce(t, deduped, total)
}
