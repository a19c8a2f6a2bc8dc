package tracefile

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSetPathsAddsAndRemoves(t *testing.T) {
	s := &sink{}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	appendFile(t, b, jsonLines("old", 0, 3)) // there before b is watched: not news
	r := start(t, testOptions(t, s, a))

	r.f.SetPaths([]string{a, b})
	waitFor(t, "b followed", func() bool { return len(r.f.Stats().Files) == 1 })
	appendFile(t, b, jsonLines("b", 0, 2))
	appendFile(t, a, jsonLines("a", 0, 2))
	waitFor(t, "lines from both", func() bool { return s.count() >= 4 })

	r.f.SetPaths([]string{b})
	waitFor(t, "a dropped", func() bool {
		st := r.f.Stats()
		return len(st.Files) == 1 && st.Files[0].Path == b
	})
	appendFile(t, a, jsonLines("a", 2, 5))
	appendFile(t, b, jsonLines("b", 2, 1))
	waitFor(t, "marker from b", func() bool { return s.count() >= 5 })

	files := map[string][]Line{}
	for _, l := range s.all() {
		files[l.Path] = append(files[l.Path], l)
	}
	assertSequence(t, files[a], "a", 0, 2)
	assertSequence(t, files[b], "b", 0, 3)
}

func TestGlobPicksUpNewFiles(t *testing.T) {
	s := &sink{}
	dir := t.TempDir()
	start(t, testOptions(t, s, filepath.Join(dir, "*.jsonl")))
	appendFile(t, filepath.Join(dir, "other.txt"), jsonLines("x", 0, 2))
	appendFile(t, filepath.Join(dir, "one.jsonl"), jsonLines("one", 0, 2))
	appendFile(t, filepath.Join(dir, "two.jsonl"), jsonLines("two", 0, 3))
	waitFor(t, "both files", func() bool { return s.count() >= 5 })
	for _, l := range s.all() {
		if strings.Contains(string(l.Data), `"x-`) {
			t.Errorf("unmatched file read: %s", l.Data)
		}
	}
}

// A directory that does not exist yet cannot be watched; the poll finds it.
func TestDirectoryCreatedLater(t *testing.T) {
	s := &sink{}
	dir := filepath.Join(t.TempDir(), "tracee")
	opts := testOptions(t, s, filepath.Join(dir, "out.json"))
	opts.PollInterval = 10 * time.Millisecond
	start(t, opts)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "out.json"), jsonLines("a", 0, 3))
	waitFor(t, "lines", func() bool { return s.count() >= 3 })
	assertSequence(t, s.all(), "a", 0, 3)
}

// Lines and bad lines are named by the pattern that matched their file,
// not by the file: a glob over dated files is one name (TestRotateByRename:
// a rotated file drained under another name keeps its pattern).
func TestLinesNamedByPattern(t *testing.T) {
	s := &sink{}
	dir := t.TempDir()
	glob, exact := filepath.Join(dir, "tracee-*.json"), filepath.Join(dir, "events.json")
	var mu sync.Mutex
	bad := map[string]int{}
	opts := testOptions(t, s, glob, exact)
	opts.BadLine = func(pattern string) {
		mu.Lock()
		defer mu.Unlock()
		bad[pattern]++
	}
	start(t, opts)
	appendFile(t, filepath.Join(dir, "tracee-1.json"), []byte("{\"id\":\"g-0\"}\nnot json\n"))
	appendFile(t, filepath.Join(dir, "tracee-2.json"), []byte("{\"id\":\"g-1\"}\n{\"cut\": \n"))
	appendFile(t, exact, []byte("{\"id\":\"e-0\"}\ngarbage\n"))
	waitFor(t, "the good lines", func() bool { return s.count() == 3 })
	waitFor(t, "the bad lines", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return bad[glob] == 2 && bad[exact] == 1
	})
	mu.Lock()
	if len(bad) != 2 {
		t.Errorf("bad lines named %v, want only the two patterns", bad)
	}
	mu.Unlock()
	for _, l := range s.all() {
		want := glob
		if l.Path == exact {
			want = exact
		}
		if l.Pattern != want {
			t.Errorf("line %s of %s: pattern %q, want %q", l.Data, l.Path, l.Pattern, want)
		}
	}
}
