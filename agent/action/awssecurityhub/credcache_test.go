package awssecurityhub

import (
	"context"
	"errors"
	"fmt"
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

	mu  sync.Mutex
	err error // guarded by mu
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
	c := credentials{AccessKeyID: fmt.Sprintf("KEY%d", n), SecretAccessKey: "s"}
	if s.life > 0 {
		c.Expires = s.clock.now().Add(s.life)
	}
	return c, nil
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

// Callers arriving while a fetch runs wait for it: one fetch for all.
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
	waitFor(t, func() bool { return src.calls.Load() == 1 })
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

// The instance role's credentials: used to the end when they expire within
// 15 minutes, and kept 5 to 15 minutes more when the service fails.
func TestCacheInstanceRolePolicy(t *testing.T) {
	clk := newClock()
	src := &staleSource{countingSource: countingSource{clock: clk, life: 10 * time.Minute}}
	c := testCache(src, clk)
	wantKey(t, c, "KEY1")
	clk.advance(9 * time.Minute) // inside the 5-minute window, but used to the end
	wantKey(t, c, "KEY1")
	clk.advance(time.Minute)
	src.fail(errors.New("imds down"))
	wantKey(t, c, "KEY1") // stale, kept
	clk.advance(4 * time.Minute)
	wantKey(t, c, "KEY1")
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	clk.advance(11 * time.Minute)
	src.fail(nil)
	wantKey(t, c, "KEY3")
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
