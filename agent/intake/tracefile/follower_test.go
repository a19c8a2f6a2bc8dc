package tracefile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestAppendsArrive(t *testing.T) {
	tests := []struct {
		name   string
		writes [][]byte
		want   int
	}{
		{"one line", [][]byte{jsonLines("a", 0, 1)}, 1},
		{"10000 lines in one write", [][]byte{jsonLines("a", 0, 10000)}, 10000},
		{"several writes", [][]byte{jsonLines("a", 0, 3), jsonLines("a", 3, 500), jsonLines("a", 503, 2)}, 505},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			path := filepath.Join(t.TempDir(), "tracee.json")
			appendFile(t, path, nil)
			start(t, testOptions(t, s, path))
			for _, w := range tt.writes {
				appendFile(t, path, w)
			}
			waitFor(t, "all lines", func() bool { return s.count() >= tt.want })
			assertSequence(t, s.all(), "a", 0, tt.want)
		})
	}
}

// assertSequence checks lines are prefix-from..from+n in order, with
// consecutive offsets and line numbers.
func assertSequence(t *testing.T, lines []Line, prefix string, from, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	var off int64
	if n > 0 {
		off = lines[0].Offset
	}
	for i, l := range lines {
		want := fmt.Sprintf(`{"id":"%s-%d"}`, prefix, from+i)
		if string(l.Data) != want || l.Offset != off || l.Number != lines[0].Number+int64(i) {
			t.Fatalf("line %d = %q at offset %d number %d, want %q at %d", i, l.Data, l.Offset, l.Number, want, off)
		}
		off += int64(len(l.Data)) + 1
	}
}

func TestFileCreatedAfterStart(t *testing.T) {
	s := &sink{}
	path := filepath.Join(t.TempDir(), "tracee.json")
	start(t, testOptions(t, s, path))
	appendFile(t, path, jsonLines("a", 0, 5))
	waitFor(t, "5 lines", func() bool { return s.count() >= 5 })
	assertSequence(t, s.all(), "a", 0, 5)
	if got := s.all()[0]; got.Number != 1 || got.Offset != 0 {
		t.Errorf("new file read from line %d offset %d, want 1 and 0", got.Number, got.Offset)
	}
}

func TestPartialLineHeldUntilComplete(t *testing.T) {
	s := &sink{}
	path := filepath.Join(t.TempDir(), "tracee.json")
	r := start(t, testOptions(t, s, path))
	appendFile(t, path, []byte(`{"id":"a-0"}`+"\n"+`{"id":`))
	waitFor(t, "first line", func() bool { return s.count() >= 1 })
	waitFor(t, "partial line read", func() bool { return r.f.Stats().Bytes == 13 })
	if n := s.count(); n != 1 {
		t.Fatalf("%d lines before the second was complete", n)
	}
	appendFile(t, path, []byte(`"a-1"}`+"\n"))
	waitFor(t, "second line", func() bool { return s.count() >= 2 })
	assertSequence(t, s.all(), "a", 0, 2)
	if st := r.f.Stats(); st.BadLines != 0 {
		t.Errorf("%d bad lines, want 0", st.BadLines)
	}
}

func TestBadLinesSkipped(t *testing.T) {
	s := &sink{}
	path := filepath.Join(t.TempDir(), "tracee.json")
	logs := &lockedBuffer{}
	opts := testOptions(t, s, path)
	opts.MaxLine = 100
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r := start(t, opts)
	long := `{"pad":"` + strings.Repeat("x", 1000) + `"}`
	appendFile(t, path, []byte(strings.Join([]string{
		`{"id":"a-0"}`, `not json`, `{"id":"a-1"}`, long, `{"id":"a-2"}`, ``, `{"id":"a-3"}`, `{"trunc`, `{"id":"a-4"}`,
	}, "\n")+"\n"))
	waitFor(t, "good lines", func() bool { return s.count() >= 5 })
	for i, l := range s.all() {
		if want := fmt.Sprintf(`{"id":"a-%d"}`, i); string(l.Data) != want {
			t.Errorf("line %d = %q, want %q", i, l.Data, want)
		}
	}
	if got := slices.Collect(lineNumbers(s.all())); !slices.Equal(got, []int64{1, 3, 5, 7, 9}) {
		t.Errorf("line numbers %v, want 1 3 5 7 9", got)
	}
	st := r.f.Stats()
	if st.BadLines != 3 || st.Lines != 5 {
		t.Errorf("stats lines=%d bad=%d, want 5 and 3", st.Lines, st.BadLines)
	}
	for _, n := range []string{"2", "4", "8"} {
		if !regexp.MustCompile(`skipping bad line.* line=` + n + ` `).MatchString(logs.String()) {
			t.Errorf("no log naming bad line %s in:\n%s", n, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "path="+path) {
		t.Errorf("bad line logs do not name the file:\n%s", logs.String())
	}
}

func lineNumbers(lines []Line) func(func(int64) bool) {
	return func(yield func(int64) bool) {
		for _, l := range lines {
			if !yield(l.Number) {
				return
			}
		}
	}
}

func TestHandlerErrorRetriesSameLine(t *testing.T) {
	failures := 0
	s := &sink{before: func(l Line, handled int) error {
		if handled == 1 && failures < 3 {
			failures++
			return errors.New("spool full")
		}
		return nil
	}}
	path := filepath.Join(t.TempDir(), "tracee.json")
	r := start(t, testOptions(t, s, path))
	appendFile(t, path, jsonLines("a", 0, 3))
	waitFor(t, "3 lines", func() bool { return s.count() >= 3 })
	assertSequence(t, s.all(), "a", 0, 3)
	if failures != 3 {
		t.Errorf("handler failed %d times, want 3", failures)
	}
	if st := r.f.Stats(); st.BadLines != 0 || st.Lines != 3 {
		t.Errorf("stats %+v, want 3 lines and none bad", st)
	}
}

func TestExistingFileStart(t *testing.T) {
	tests := []struct {
		name      string
		atStart   bool
		wantFirst int
	}{
		{"from end by default", false, 2}, // the partial line already there is completed later
		{"from beginning when asked", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			path := filepath.Join(t.TempDir(), "tracee.json")
			appendFile(t, path, append(jsonLines("a", 0, 2), `{"id":"a-`...))
			opts := testOptions(t, s, path)
			opts.StartAtBeginning = tt.atStart
			start(t, opts)
			appendFile(t, path, []byte("2\"}\n"))
			appendFile(t, path, jsonLines("a", 3, 2))
			waitFor(t, "last line", func() bool { return s.count() >= 5-tt.wantFirst })
			assertSequence(t, s.all(), "a", tt.wantFirst, 5-tt.wantFirst)
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	ok := Options{StateDir: t.TempDir(), Handle: (&sink{}).handle}
	tests := []struct {
		name   string
		change func(*Options)
	}{
		{"no handler", func(o *Options) { o.Handle = nil }},
		{"no state dir", func(o *Options) { o.StateDir = "" }},
		{"glob in directory", func(o *Options) { o.Paths = []string{"/var/log/*/tracee.json"} }},
		{"bad glob", func(o *Options) { o.Paths = []string{"/var/log/[.json"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			if _, err := New(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid options rejected: %v", err)
	}
}

func TestRunTwiceFails(t *testing.T) {
	r := start(t, testOptions(t, &sink{}, filepath.Join(t.TempDir(), "x.json")))
	if err := r.f.Run(t.Context()); err == nil {
		t.Fatal("second Run accepted")
	}
	if _, err := os.Stat(filepath.Join(r.f.opts.StateDir, DefaultStateFile)); err != nil {
		t.Errorf("offsets not written at start: %v", err)
	}
}
