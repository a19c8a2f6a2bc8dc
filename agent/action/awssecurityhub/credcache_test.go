package awssecurityhub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingSource gives keys KEY1, KEY2... valid for life (forever if 0),
// or err; gate, when set, holds each fetch until it is closed.
type countingSource struct {
	clock *clock
	life  time.Duration
	gate  chan struct{}
	calls atomic.Int32

	mu   sync.Mutex
	err  error  // guarded by mu
	last string // guarded by mu: the last key given
}

func (s *countingSource) Retrieve(context.Context) (credentials, error) {
	n := s.calls.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return credentials{}, s.err
	}
	s.last = fmt.Sprintf("KEY%d", n)
	c := credentials{AccessKeyID: s.last, SecretAccessKey: "s"}
	if s.life != 0 {
		c.Expires = s.clock.now().Add(s.life)
	}
	return c, nil
}

func (s *countingSource) lastKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *countingSource) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func testCache(src credentialSource, clk *clock) *credentialCache {
	c := newCredentialCache(src, refreshWindow)
	c.now = clk.now
	return c
}

func wantKey(t *testing.T, c credentialSource, want string) {
	t.Helper()
	got, err := c.Retrieve(context.Background())
	if err != nil || got.AccessKeyID != want {
		t.Fatalf("Retrieve = %q, %v; want %s", got.AccessKeyID, err, want)
	}
}

// Credentials are kept until 5 minutes before they expire, then fetched
// again; keys that do not expire are fetched once.
func TestCacheRefreshesBeforeExpiry(t *testing.T) {
	clk := newClock()
	src := &countingSource{clock: clk, life: time.Hour}
	c := testCache(src, clk)
	wantKey(t, c, "KEY1")
	clk.advance(54*time.Minute + 59*time.Second)
	wantKey(t, c, "KEY1")
	clk.advance(time.Second)
	wantKey(t, c, "KEY2")
	wantKey(t, c, "KEY2")

	static := &countingSource{clock: clk}
	c = testCache(static, clk)
	wantKey(t, c, "KEY1")
	clk.advance(1000 * time.Hour)
	wantKey(t, c, "KEY1")
	if n := static.calls.Load(); n != 1 {
		t.Errorf("keys without expiry fetched %d times", n)
	}
}

// Callers arriving while a fetch runs wait for it: one fetch for all. The
// fetch is released only once all of them wait for it, so none is served
// from the cache after it.
func TestCacheOneFetchAtATime(t *testing.T) {
	clk := newClock()
	src := &countingSource{clock: clk, life: time.Hour, gate: make(chan struct{})}
	c := testCache(src, clk)
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			got, err := c.Retrieve(context.Background())
			if err == nil && got.AccessKeyID != "KEY1" {
				err = fmt.Errorf("got %s", got.AccessKeyID)
			}
			errs <- err
		})
	}
	waitFor(t, func() bool {
		if !c.mu.TryLock() {
			return false // a cache holding its lock through a fetch never gets there
		}
		defer c.mu.Unlock()
		return c.pending != nil && c.pending.waiters == callers
	})
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d fetches for %d callers", n, callers)
	}
}

// A failed fetch is returned to everyone waiting for it, and not kept: the
// next call fetches again.
func TestCacheDoesNotKeepErrors(t *testing.T) {
	clk := newClock()
	src := &countingSource{clock: clk, life: time.Hour}
	src.fail(errors.New("sts down"))
	c := testCache(src, clk)
	if _, err := c.Retrieve(context.Background()); err == nil || err.Error() != "sts down" {
		t.Fatalf("first call: %v", err)
	}
	src.fail(nil)
	wantKey(t, c, "KEY2")

	clk.advance(56 * time.Minute) // due again, and the source fails: no stale keys
	src.fail(errors.New("sts down"))
	if _, err := c.Retrieve(context.Background()); err == nil {
		t.Fatal("expired keys were returned after a failed refresh")
	}
}

// A caller that gives up returns at once; the fetch goes on for the others
// and its result is kept.
func TestCacheCallerGivesUp(t *testing.T) {
	clk := newClock()
	src := &countingSource{clock: clk, life: time.Hour, gate: make(chan struct{})}
	c := testCache(src, clk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Retrieve(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
	close(src.gate)
	wantKey(t, c, "KEY1")
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d fetches", n)
	}
}

// The instance role's credentials are used to the end when they expire
// within 15 minutes; but not past it, even when the service fails then.
func TestCacheInstanceRolePolicy(t *testing.T) {
	clk := newClock()
	src := &staleSource{countingSource: countingSource{clock: clk, life: 10 * time.Minute}}
	c := testCache(src, clk)
	wantKey(t, c, "KEY1")
	clk.advance(9*time.Minute + 59*time.Second) // inside the 5-minute window, but used to the end
	wantKey(t, c, "KEY1")
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	clk.advance(time.Second)
	src.fail(errors.New("imds down"))
	if got, err := c.Retrieve(context.Background()); err == nil || !retryable(err) {
		t.Fatalf("expired keys, service down: Retrieve = %q, %v; want an error, retried", got.AccessKeyID, err)
	}
	src.fail(nil)
	wantKey(t, c, "KEY3")
}

// When the service fails, the instance role's last credentials are kept
// while they are valid; once they have expired, the error says since when
// the service has failed and why, and is retried, whatever the failure.
func TestCacheInstanceRoleOutage(t *testing.T) {
	clk := newClock()
	src := &staleSource{countingSource: countingSource{clock: clk, life: time.Hour}}
	c := testCache(src, clk)
	wantKey(t, c, "KEY1")
	down := errors.New("imds down")
	for range 2 { // the second outage is dated afresh
		clk.advance(55 * time.Minute)
		since := clk.now()
		src.fail(down)
		wantKey(t, c, src.lastKey()) // stale, still valid: kept
		clk.advance(4*time.Minute + 59*time.Second)
		wantKey(t, c, src.lastKey())
		clk.advance(time.Second)
		_, err := c.Retrieve(context.Background())
		want := "instance metadata unreachable since " + since.Format(time.RFC3339) + ": imds down"
		if err == nil || err.Error() != want || !errors.Is(err, down) || !retryable(err) {
			t.Fatalf("expired keys: %v (retry %v); want %q, retried", err, retryable(err), want)
		}
		src.fail(nil)
		wantKey(t, c, fmt.Sprintf("KEY%d", src.calls.Load()+1))
	}
}

// Credentials that have expired when fetched are not handed out either.
func TestCacheRefusesExpiredOnArrival(t *testing.T) {
	clk := newClock()
	src := &countingSource{clock: clk, life: -time.Second}
	_, err := testCache(src, clk).Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "expired at 2024-05-01T09:59:59Z") || !retryable(err) {
		t.Fatalf("Retrieve error %v (retry %v); want expired, retried", err, retryable(err))
	}
}

// staleSource has the instance role's policy.
type staleSource struct {
	countingSource
	instanceRole
}

func (s *staleSource) Retrieve(ctx context.Context) (credentials, error) {
	return s.countingSource.Retrieve(ctx)
}

// waitFor polls cond until it holds, failing after 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
