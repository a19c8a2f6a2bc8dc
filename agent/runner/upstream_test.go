package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// peer records what an upstream sent; fail decides, per attempt, whether
// the controller refuses an entry.
type peer struct {
	mu       sync.Mutex
	sent     []string // guarded by mu
	attempts int      // guarded by mu
	fail     func(entry string, attempt int) bool
	refuse   func(entry string) error // an error other than unreachable, or nil
}

func (u *peer) send(_ context.Context, entry []byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.attempts++
	if u.fail != nil && u.fail(string(entry), u.attempts) {
		return errors.New("controller unreachable")
	}
	if u.refuse != nil {
		if err := u.refuse(string(entry)); err != nil {
			return err
		}
	}
	u.sent = append(u.sent, string(entry))
	return nil
}

func (u *peer) got() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.sent)
}

func entries(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf(`{"event_id":"e%d"}`, i))
	}
	return out
}

// testSpool is a journal with its upstream reader; the local reader's
// cursor follows the end, as if the runner had no actions of its own.
type testSpool struct {
	*journal
	up   *upstream
	log  *slog.Logger
	peer *peer
}

func openTestSpool(t *testing.T, dir string) *testSpool {
	t.Helper()
	return openTestSpoolLog(t, dir, slog.New(slog.DiscardHandler))
}

func openTestSpoolLog(t *testing.T, dir string, log *slog.Logger) *testSpool {
	t.Helper()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &testSpool{journal: j, log: log}
	// Retries a thousand times sooner than in production: the order kept
	// across them is under test, not their pace.
	s.up = newUpstream(upstreamDeps{Journal: j, Logger: log, Send: func(ctx context.Context, e []byte) error { return s.peer.send(ctx, e) },
		RetryMin: 100 * time.Microsecond, RetryMax: 10 * time.Millisecond, SaveEvery: defaultTimings.DiskSync})
	return s
}

func (s *testSpool) Pending() int64 { return s.up.Pending() }
func (s *testSpool) Dropped() int64 { return s.up.Dropped() }

// runSpool sends with u until the returned stop is called; stop waits for
// the sender to end.
func runSpool(s *testSpool, u *peer) (stop func()) {
	s.peer = u
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.up.Run(ctx) }()
	return func() { cancel(); <-done }
}

func appendAll(t *testing.T, s *testSpool, es []string) {
	t.Helper()
	for _, e := range es {
		if _, err := s.Append([]byte(e)); err != nil {
			t.Fatal(err)
		}
		s.up.appended()
		end, _ := s.End()
		if err := s.SetCursor(cursorLocal, end); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpoolSendsInOrder(t *testing.T) {
	type failFunc = func(entry string, attempt int) bool
	tests := []struct {
		name string
		fail func() failFunc // a fresh one per run: it may keep state
	}{
		{"controller up", func() failFunc { return nil }},
		{"an entry refused twice", func() failFunc {
			left := 2
			return func(e string, _ int) bool {
				if e != `{"event_id":"e3"}` || left == 0 {
					return false
				}
				left--
				return true
			}
		}},
		{"every other attempt refused", func() failFunc { return func(_ string, attempt int) bool { return attempt%2 == 0 } }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestSpool(t, t.TempDir())
			defer s.Close()
			u := &peer{fail: tt.fail()}
			appendAll(t, s, entries(0, 3))
			stop := runSpool(s, u)
			defer stop()
			appendAll(t, s, entries(3, 8))
			want := entries(0, 8)
			fleettest.Eventually(t, "every entry sent", func() bool { return len(u.got()) >= len(want) })
			if got := u.got(); !slices.Equal(got, want) {
				t.Fatalf("sent %v, want %v", got, want)
			}
			if n := s.Pending(); n != 0 {
				t.Fatalf("%d pending after everything was sent", n)
			}
		})
	}
}

// TestSpoolRestartResumes: a spool reopened after a stop sends only what the
// controller did not acknowledge before it.
func TestSpoolRestartResumes(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir)
	appendAll(t, s, entries(0, 10))
	u := &peer{fail: func(e string, _ int) bool { return e == `{"event_id":"e4"}` }}
	stop := runSpool(s, u)
	fleettest.Eventually(t, "the entries before the refused one", func() bool { return len(u.got()) == 4 })
	stop()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestSpool(t, dir)
	defer s.Close()
	if n := s.Pending(); n != 6 {
		t.Fatalf("%d pending after reopening, want 6", n)
	}
	u2 := &peer{}
	stop = runSpool(s, u2)
	defer stop()
	fleettest.Eventually(t, "the rest sent", func() bool { return len(u2.got()) >= 6 })
	if got, want := u2.got(), entries(4, 10); !slices.Equal(got, want) {
		t.Fatalf("sent after reopening %v, want %v", got, want)
	}
}

// TestSpoolCompaction: what every reader is past is dropped from the log
// (here: all of it, once sent), and entries appended afterwards are still
// sent, once.
func TestSpoolCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir)
	s.compactAt = 256
	u := &peer{}
	stop := runSpool(s, u)
	big := strings.Repeat("x", 70<<10) // past the 64 KiB an emptied log must free
	appendAll(t, s, append(entries(0, 20), `{"event_id":"pad","event":"`+big+`"}`))
	fleettest.Eventually(t, "first batch sent", func() bool { return len(u.got()) == 21 })
	fleettest.Eventually(t, "log emptied", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "spool.log"))
		return err == nil && strings.HasPrefix(string(b), "#base ") && strings.Count(string(b), "\n") == 1
	})
	appendAll(t, s, entries(20, 25))
	fleettest.Eventually(t, "second batch sent", func() bool { return len(u.got()) == 26 })
	stop()
	if got := u.got(); !slices.Equal(got[21:], entries(20, 25)) {
		t.Fatalf("sent %v", got)
	}
	s.Close()
	if n := openTestSpool(t, dir).Pending(); n != 0 {
		t.Fatalf("%d pending after reopening a sent spool", n)
	}
}

// TestSpoolPartialTail: an entry half-written by a crash is dropped on open,
// so the next entry is not glued to it.
func TestSpoolPartialTail(t *testing.T) {
	tests := []struct{ name, log string }{
		{"after complete entries", `{"event_id":"e0"}` + "\n" + `{"event_id":"e1"}` + "\n" + `{"event_id":"torn`},
		{"alone", `{"event_id":"torn`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fleettest.WriteFile(t, filepath.Join(dir, "spool.log"), tt.log)
			s := openTestSpool(t, dir)
			defer s.Close()
			appendAll(t, s, entries(9, 10))
			u := &peer{}
			stop := runSpool(s, u)
			defer stop()
			kept := len(fleettest.ReadLines(filepath.Join(dir, "spool.log")))
			fleettest.Eventually(t, "entries sent", func() bool { return len(u.got()) == kept })
			if got := u.got(); got[len(got)-1] != `{"event_id":"e9"}` || slices.Contains(got, `{"event_id":"torn`) {
				t.Fatalf("sent %v", got)
			}
		})
	}
}

// TestSpoolLargeEntry: entries longer than the spool's read buffer are sent
// intact, in order with the small ones around them.
func TestSpoolLargeEntry(t *testing.T) {
	big := func(id string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		return fmt.Sprintf(`{"event_id":%q,"event":{"pad":%q}}`, id, b)
	}
	want := []string{`{"event_id":"e0"}`, big("big1", 600<<10), `{"event_id":"e2"}`, big("big3", 300<<10)}
	s := openTestSpool(t, t.TempDir())
	defer s.Close()
	u := &peer{}
	appendAll(t, s, want)
	stop := runSpool(s, u)
	defer stop()
	fleettest.Eventually(t, "every entry sent", func() bool { return len(u.got()) >= len(want) })
	got := u.got()
	if len(got) != len(want) {
		t.Fatalf("sent %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d sent with %d bytes, differs from the %d spooled", i, len(got[i]), len(want[i]))
		}
	}
}

// TestSpoolDropsUnsendable: an entry the controller can never take is logged
// and dropped, and the entries behind it are sent; a transient failure is
// still retried in order.
func TestSpoolDropsUnsendable(t *testing.T) {
	logs := fleettest.NewLogs(t)
	s := openTestSpoolLog(t, t.TempDir(), logs.Logger("r1"))
	defer s.Close()
	transient := 2
	u := &peer{
		fail: func(e string, _ int) bool { // e5 fails twice as if the controller were away
			if e != `{"event_id":"e5"}` || transient == 0 {
				return false
			}
			transient--
			return true
		},
		refuse: func(e string) error {
			if e == `{"event_id":"e2"}` {
				return &unsendableError{eventID: "e2", err: fmt.Errorf("nats: %w", nats.ErrMaxPayload)}
			}
			return nil
		},
	}
	appendAll(t, s, entries(0, 8))
	stop := runSpool(s, u)
	defer stop()
	want := slices.Concat(entries(0, 2), entries(3, 8))
	fleettest.Eventually(t, "the sendable entries sent", func() bool { return len(u.got()) >= len(want) })
	if got := u.got(); !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	fleettest.Eventually(t, "nothing pending", func() bool { return s.Pending() == 0 })
	if n := s.Dropped(); n != 1 {
		t.Fatalf("%d dropped, want 1", n)
	}
	if !logs.Contains("level=ERROR", "event_id=e2", fmt.Sprintf("size=%d", len(`{"event_id":"e2"}`)), "maximum payload exceeded") {
		t.Fatal("the dropped entry was not logged with its event id and size")
	}
}

// TestSendUpUnsendable: sendUp tells a size refusal and an unreadable entry,
// which never succeed, from failures a retry can cure.
func TestSendUpUnsendable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"client max payload", fmt.Errorf("nats: %w", nats.ErrMaxPayload), true},
		{"server max payload", errors.New("nats: Maximum Payload Violation"), true},
		{"stream max message size", fmt.Errorf("nats: %w", jetstream.ErrStreamMessageExceedsMaximum), true},
		{"disconnected", nats.ErrConnectionClosed, false},
		{"timeout", context.DeadlineExceeded, false},
		{"no responders", jetstream.ErrNoStreamResponse, false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tooLarge(tt.err); got != tt.want {
				t.Fatalf("tooLarge(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	var ue *unsendableError
	if err := (&link{name: "r1"}).publish(t.Context(), []byte(`{"event_id":`)); !errors.As(err, &ue) {
		t.Fatalf("an unreadable entry: %v, want it unsendable", err)
	}
}
