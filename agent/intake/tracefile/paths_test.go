package tracefile

import (
	"os"
	"path/filepath"
	"strings"
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
