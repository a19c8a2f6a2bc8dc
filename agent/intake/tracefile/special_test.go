package tracefile

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logged runs the follower's logs into a buffer as well as the test log.
func logged(t *testing.T, opts *Options) *lockedBuffer {
	b := &lockedBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(b.String())
		}
	})
	return b
}

func countLines(logs, substr string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// TestOnlyRegularFilesAreFollowed: a FIFO or a symlink loop matching a
// glob, there at the start or appearing later, is logged once and skipped;
// the regular file beside it is followed. The FIFO used to freeze the
// follower in open(2) until something wrote to it, with the runner healthy.
func TestOnlyRegularFilesAreFollowed(t *testing.T) {
	special := []struct {
		name, want string
		make       func(path string) error
	}{
		{"fifo", "is not a regular file (a FIFO)", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
		{"symlink loop", "too many levels of symbolic links", func(p string) error { return os.Symlink(filepath.Base(p), p) }},
		{"directory", "is not a regular file (a directory)", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"symlink to a fifo", "is not a regular file (a FIFO)", func(p string) error {
			if err := syscall.Mkfifo(p+".fifo", 0o600); err != nil {
				return err
			}
			return os.Symlink(filepath.Base(p)+".fifo", p)
		}},
	}
	for _, sp := range special {
		for _, later := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, created later %v", sp.name, later), func(t *testing.T) {
				dir := t.TempDir()
				odd, good := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
				appendFile(t, good, jsonLines("old", 0, 2))
				if !later {
					if err := sp.make(odd); err != nil {
						t.Fatal(err)
					}
				}
				s := &sink{}
				opts := testOptions(t, s, filepath.Join(dir, "*.jsonl"))
				opts.StartAtBeginning, opts.PollInterval = true, 5*time.Millisecond
				logs := logged(t, &opts)
				r := start(t, opts) // fails unless the follower gets ready
				if later {
					if err := sp.make(odd); err != nil {
						t.Fatal(err)
					}
				}
				appendFile(t, good, jsonLines("new", 0, 3))
				waitFor(t, "the regular file's lines", func() bool { return s.count() == 5 })
				waitFor(t, "the skipped file logged", func() bool { return countLines(logs.String(), sp.want) > 0 })
				// Many polls later it is still logged once, not once a poll.
				for range 20 {
					time.Sleep(10 * time.Millisecond)
					if n := countLines(logs.String(), sp.want); n != 1 {
						t.Fatalf("%q logged %d times, want once", sp.want, n)
					}
				}
				if st := r.f.Stats(); len(st.Files) != 1 || st.Files[0].Path != good {
					t.Fatalf("following %+v, want only %s", st.Files, good)
				}
			})
		}
	}
}

// TestGarbageFileWarnsBoundedThenCounts: a file of garbage logs its first
// maxBadLineWarnings bad lines, then only counts: one summary after the
// read, another when the file is closed; each file has its own budget.
func TestGarbageFileWarnsBoundedThenCounts(t *testing.T) {
	dir := t.TempDir()
	big, small := filepath.Join(dir, "big.jsonl"), filepath.Join(dir, "small.jsonl")
	appendFile(t, big, append([]byte(strings.Repeat("\x00\x01garbage\xff\n", 1000)), jsonLines("big", 0, 1)...))
	appendFile(t, small, append([]byte(strings.Repeat("not json\n", 12)), jsonLines("small", 0, 1)...))
	s := &sink{}
	opts := testOptions(t, s, filepath.Join(dir, "*.jsonl"))
	opts.StartAtBeginning = true
	logs := logged(t, &opts)
	r := start(t, opts)
	waitFor(t, "the good lines", func() bool { return s.count() == 2 })

	appendFile(t, big, append([]byte(strings.Repeat("garbage\n", 5)), jsonLines("big", 1, 1)...))
	waitFor(t, "the line after more garbage", func() bool { return s.count() == 3 })
	if got := r.f.Stats().BadLines; got != 1017 {
		t.Errorf("counted %d bad lines, want 1017", got)
	}
	r.stop(t)

	out := logs.String()
	for _, tc := range []struct {
		what, substr string
		want         int
	}{
		{"big.jsonl, one by one", `skipping bad line" path=` + big, maxBadLineWarnings},
		{"small.jsonl, one by one", `skipping bad line" path=` + small, maxBadLineWarnings},
		{"the last one says what follows", "further bad lines of this file are counted", 2},
		{"big.jsonl, first summary", `bad lines skipped" path=` + big + " skipped=990 bad_lines=1000", 1},
		{"big.jsonl, summary at close", `bad lines skipped" path=` + big + " skipped=5 bad_lines=1005", 1},
		{"small.jsonl, summary", `bad lines skipped" path=` + small + " skipped=2 bad_lines=12", 1},
		{"all warnings", "level=WARN", 2*maxBadLineWarnings + 3},
	} {
		if n := countLines(out, tc.substr); n != tc.want {
			t.Errorf("%s: %d lines with %q, want %d", tc.what, n, tc.substr, tc.want)
		}
	}
}
