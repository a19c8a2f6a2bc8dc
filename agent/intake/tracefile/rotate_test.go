package tracefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// byKey groups lines per file identity, keeping delivery order.
func byKey(lines []Line) map[string][]Line {
	m := map[string][]Line{}
	for _, l := range lines {
		m[l.FileKey] = append(m[l.FileKey], l)
	}
	return m
}

func TestRotateByRename(t *testing.T) {
	s := &sink{}
	dir := t.TempDir()
	path := filepath.Join(dir, "tracee.json")
	opts := testOptions(t, s, path)
	opts.DrainGrace = 50 * time.Millisecond
	opts.PollInterval = 20 * time.Millisecond // closes the drained file
	r := start(t, opts)

	// The writer keeps its descriptor across the rename, as Tracee does
	// until it reopens its output.
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	write(t, old, jsonLines("a", 0, 100))
	waitFor(t, "first lines", func() bool { return s.count() >= 100 })
	write(t, old, jsonLines("a", 100, 100))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, old, jsonLines("a", 200, 100))
	appendFile(t, path, jsonLines("b", 0, 100))
	write(t, old, jsonLines("a", 300, 100))

	waitFor(t, "all lines", func() bool { return s.count() >= 500 })
	files := byKey(s.all())
	if len(files) != 2 {
		t.Fatalf("lines from %d files, want 2", len(files))
	}
	for _, lines := range files {
		prefix := strings.TrimPrefix(string(lines[0].Data), `{"id":"`)[:1]
		want := map[string]int{"a": 400, "b": 100}[prefix]
		assertSequence(t, lines, prefix, 0, want)
		if lines[0].Offset != 0 || lines[0].Number != 1 {
			t.Errorf("file %s starts at offset %d line %d", prefix, lines[0].Offset, lines[0].Number)
		}
		for _, l := range lines {
			if l.Pattern != path { // the rotated file too: its lines are still path's
				t.Fatalf("line %s: pattern %q, want %q", l.Data, l.Pattern, path)
			}
		}
	}
	waitFor(t, "rotated file closed", func() bool { return len(r.f.Stats().Files) == 1 })
}

func write(t *testing.T, f *os.File, b []byte) {
	t.Helper()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestCopyTruncate(t *testing.T) {
	s := &sink{}
	path := filepath.Join(t.TempDir(), "tracee.json")
	r := start(t, testOptions(t, s, path))
	appendFile(t, path, jsonLines("a", 0, 10))
	waitFor(t, "first lines", func() bool { return s.count() >= 10 })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, jsonLines("b", 0, 3))
	waitFor(t, "lines after truncation", func() bool { return s.count() >= 13 })

	lines := s.all()
	assertSequence(t, lines[:10], "a", 0, 10)
	assertSequence(t, lines[10:], "b", 0, 3)
	before, after := lines[0].FileKey, lines[10].FileKey
	if after != before+":1" {
		t.Errorf("FileKey after truncation %q, want %q", after, before+":1")
	}
	if lines[10].Offset != 0 || lines[10].Number != 1 {
		t.Errorf("after truncation read from offset %d line %d, want 0 and 1", lines[10].Offset, lines[10].Number)
	}
	if st := r.f.Stats(); len(st.Files) != 1 || st.Files[0].FileKey != after {
		t.Errorf("stats files %+v", st.Files)
	}
}

// A file rotated while the runner was stopped is found by its inode in the
// same directory and drained; the new file is read from its start.
func TestRotatedWhileStopped(t *testing.T) {
	s := &sink{}
	path := filepath.Join(t.TempDir(), "tracee.json")
	opts := testOptions(t, s, path)
	appendFile(t, path, nil)
	r := start(t, opts)
	appendFile(t, path, jsonLines("a", 0, 10))
	waitFor(t, "first run", func() bool { return s.count() >= 10 })
	r.stop(t)

	appendFile(t, path, jsonLines("a", 10, 5))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, jsonLines("b", 0, 7))
	start(t, opts)
	waitFor(t, "second run", func() bool { return s.count() >= 22 })

	files := byKey(s.all())
	if len(files) != 2 {
		t.Fatalf("lines from %d files, want 2", len(files))
	}
	for _, lines := range files {
		if strings.Contains(string(lines[0].Data), "b-") {
			assertSequence(t, lines, "b", 0, 7)
		} else {
			assertSequence(t, lines, "a", 0, 15)
		}
	}
}

// A file truncated or rewritten in place while the runner was down is read
// again from 0 under a new FileKey, whether it is now shorter or longer
// than the saved offset (the fingerprint tells the longer one apart).
func TestFileChangedWhileStopped(t *testing.T) {
	tests := []struct {
		name  string
		lines int
	}{
		{"shorter than the saved offset", 2},
		{"longer than the saved offset", 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			path := filepath.Join(t.TempDir(), "tracee.json")
			appendFile(t, path, nil)
			opts := testOptions(t, s, path)
			r := start(t, opts)
			appendFile(t, path, jsonLines("a", 0, 10))
			waitFor(t, "first run", func() bool { return s.count() >= 10 })
			r.stop(t)

			if err := os.WriteFile(path, jsonLines("b", 0, tt.lines), 0o600); err != nil {
				t.Fatal(err)
			}
			start(t, opts)
			waitFor(t, "rewritten lines", func() bool { return s.count() >= 10+tt.lines })
			lines := s.all()
			assertSequence(t, lines[10:], "b", 0, tt.lines)
			if want := lines[0].FileKey + ":1"; lines[10].FileKey != want {
				t.Errorf("FileKey %q after rewrite, want %q", lines[10].FileKey, want)
			}
		})
	}
}
