package runner

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestTraceeFileAppend: lines of both Tracee shapes appended to a followed
// file run the runner's own route here and reach the controller once each.
func TestTraceeFileAppend(t *testing.T) {
	x := newTracee1(t)
	samples := traceeLines(t)
	n := len(samples)
	fleettest.AppendFile(t, x.file, seqLines(samples, 0, n, true))
	fleettest.AppendFile(t, x.file, seqLines(samples, n, 2*n, false))

	fleettest.Eventually(t, "every line at the controller", func() bool { return x.recv.exactlyOnce(0, 2*n) })
	fleettest.Eventually(t, "the runner's exec for the local lines", func() bool { return len(fleettest.ReadLines(x.out)) == n })
	ids := map[string]bool{}
	idLine := regexp.MustCompile(`^[0-9a-f]{32} local$`)
	for _, l := range fleettest.ReadLines(x.out) {
		if !idLine.MatchString(l) {
			t.Fatalf("exec output %q: want an event id and the route", l)
		}
		ids[l] = true
	}
	if len(ids) != n {
		t.Fatalf("exec saw %d distinct events, want %d", len(ids), n)
	}
	fleettest.Stays(t, "each event once", func() bool { return x.recv.exactlyOnce(0, 2*n) && len(fleettest.ReadLines(x.out)) == n })
	fleettest.Eventually(t, "the runner's runs counted", func() bool {
		return gathered(t, x.runner.r.metrics.Registry, "posteed_action_runs_total", "action=runner-exec", "outcome=ok") == float64(n)
	})
}

// TestTraceeFileBurst: a burst written faster than it is read loses nothing
// and repeats nothing.
func TestTraceeFileBurst(t *testing.T) {
	const total = 2000
	x := newTracee1(t)
	samples := traceeLines(t)
	for from := 0; from < total; from += 500 {
		fleettest.AppendFile(t, x.file, seqLines(samples, from, from+500, false))
	}
	fleettest.Eventually(t, fmt.Sprintf("%d lines at the controller", total), func() bool { return x.recv.distinct() == total })
	if !x.recv.exactlyOnce(0, total) {
		t.Fatal(x.recv.diagnose(0, total))
	}
	fleettest.Eventually(t, "spool drained", func() bool { return x.runner.r.up.Pending() == 0 })
	fleettest.Stays(t, "each line once", func() bool { return x.recv.exactlyOnce(0, total) })
}

// TestTraceeFileRunnerRestart stops the runner in the middle of a burst
// that goes on while it is down, and starts it again on the same state:
// every line reaches the controller exactly once.
func TestTraceeFileRunnerRestart(t *testing.T) {
	const total, chunk = 2000, 20
	x := newTracee1(t)
	samples := traceeLines(t)
	written := make(chan int, total/chunk)
	go func() { // a producer pacing its writes, as Tracee does
		defer close(written)
		for from := 0; from < total; from += chunk {
			if err := fleettest.Append(x.file, seqLines(samples, from, from+chunk, false)); err != nil {
				t.Error(err)
				return
			}
			written <- from + chunk
			time.Sleep(2 * time.Millisecond)
		}
	}()
	fleettest.Eventually(t, "part of the burst read", func() bool { return x.runner.r.files.follower.Stats().Lines >= total/4 })
	x.runner.shutdown()
	read := x.runner.r.files.follower.Stats().Lines
	x.runner.start()
	last := 0
	for n := range written {
		last = n
	}
	t.Logf("runner stopped after reading %d lines, %d at the controller; %d written in all", read, x.recv.distinct(), last)
	if read >= total {
		t.Log("the burst ended before the runner stopped: only the spool's restart was tested")
	}

	fleettest.Eventually(t, "every line at the controller", func() bool { return x.recv.distinct() == total })
	if !x.recv.exactlyOnce(0, total) {
		t.Fatal(x.recv.diagnose(0, total))
	}
	fleettest.Eventually(t, "spool drained", func() bool { return x.runner.r.up.Pending() == 0 })
	fleettest.Stays(t, "each line once", func() bool { return x.recv.exactlyOnce(0, total) })
}

// TestTraceeFileBadLines: lines that are not JSON are counted, logged with
// their file and line number, and skipped; the good lines around them pass.
func TestTraceeFileBadLines(t *testing.T) {
	x := newTracee1(t)
	samples := traceeLines(t)
	good := strings.Split(strings.TrimSpace(seqLines(samples, 0, 4, false)), "\n")
	content := strings.Join([]string{
		good[0],
		"not json at all",
		good[1],
		`{"truncated": `,
		good[2],
		"",
		good[3],
	}, "\n") + "\n"
	fleettest.AppendFile(t, x.file, content)

	fleettest.Eventually(t, "the good lines at the controller", func() bool { return x.recv.exactlyOnce(0, 4) })
	st := x.runner.r.files.follower.Stats()
	if st.BadLines != 2 || st.Lines != 4 {
		t.Fatalf("follower counted %d lines and %d bad, want 4 and 2", st.Lines, st.BadLines)
	}
	for _, line := range []string{"line=2", "line=4"} {
		if !x.logs.Contains("skipping bad line", "path="+x.file, line) {
			t.Errorf("no log of the bad %s of %s", line, x.file)
		}
	}
	if !strings.Contains(x.runner.r.statusLine(), "2 bad") {
		t.Errorf("status %q does not count the bad lines", x.runner.r.statusLine())
	}
	reg := x.runner.r.metrics.Registry
	fleettest.Eventually(t, "the lines counted by file", func() bool {
		return gathered(t, reg, "posteed_tracee_lines_total", "file="+x.file) == 4
	})
	if v := gathered(t, reg, "posteed_tracee_bad_lines_total", "file="+x.file); v != 2 {
		t.Errorf("posteed_tracee_bad_lines_total{file=%q} = %v, want 2", x.file, v)
	}
}

func TestLineEventID(t *testing.T) {
	a := lineEventID("r1", "8:12", 0)
	tests := []struct {
		name         string
		runner, file string
		off          int64
		same         bool
	}{
		{"same line again", "r1", "8:12", 0, true},
		{"next line", "r1", "8:12", 1, false},
		{"same offset after a truncation", "r1", "8:12:1", 0, false},
		{"another runner", "r2", "8:12", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lineEventID(tt.runner, tt.file, tt.off); (got == a) != tt.same || len(got) != 32 {
				t.Fatalf("id %q against %q, want same=%v", got, a, tt.same)
			}
		})
	}
}
