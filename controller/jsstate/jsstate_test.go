package jsstate_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/controller/jsstate"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

func openState(t *testing.T) (*jsstate.State, jetstream.JetStream) {
	t.Helper()
	f := natsdtest.New(t)
	_, js := f.Controller(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := jsstate.Open(ctx, js, jsstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

// TestDedupOneWinner: controllers racing on one combination let exactly
// one event through; the winner handled again is still first; an expired
// combination lets the next event through.
func TestDedupOneWinner(t *testing.T) {
	s, _ := openState(t)
	ctx := context.Background()
	now := time.Now()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 10 {
		d := &jsstate.Dedup{KV: s.Dedup, Now: func() time.Time { return now }} // one per controller
		wg.Go(func() {
			first, err := d.First(ctx, "k1", time.Hour, fmt.Sprint("ev-", i))
			if err != nil {
				t.Error(err)
			}
			if first {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d events through, want 1", wins.Load())
	}
	d := &jsstate.Dedup{KV: s.Dedup, Now: func() time.Time { return now }}
	e, _ := s.Dedup.Get(ctx, "k1")
	winner := string(e.Value())
	for i := range 10 {
		if first, _ := d.First(ctx, "k1", time.Hour, fmt.Sprint("ev-", i)); first != (winner == fmt.Sprintf(`{"exp":%d,"event":"ev-%d"}`, now.Add(time.Hour).UnixMilli(), i)) {
			t.Fatalf("ev-%d first=%v with %s recorded", i, first, winner)
		}
	}
	later := &jsstate.Dedup{KV: s.Dedup, Now: func() time.Time { return now.Add(2 * time.Hour) }}
	if first, _ := later.First(ctx, "k1", time.Hour, "ev-late"); !first {
		t.Fatal("expired combination still a duplicate")
	}
}

func held(route string, i int, at time.Time) engine.Held {
	return engine.Held{Route: route, EventID: fmt.Sprint("e", i), Title: fmt.Sprint("t", i), At: at}
}

// TestHoldSealsOnceAcrossControllers: two controllers adding to one batch
// of 3 hand it out once, whole; what comes meanwhile starts the next.
func TestHoldSealsOnceAcrossControllers(t *testing.T) {
	s, _ := openState(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	a, _ := jsstate.NewHold(ctx, s.Hold, "a", log)
	b, _ := jsstate.NewHold(ctx, s.Hold, "b", log)
	var mu sync.Mutex
	var batches []*engine.Batch
	var wg sync.WaitGroup
	for i := range 7 {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Go(func() {
			got, err := h.Add(ctx, "batch", held("r", i, time.Now()), 3)
			if err != nil {
				t.Error(err)
			}
			if got != nil {
				mu.Lock()
				batches = append(batches, got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(batches) != 1 || len(batches[0].Items) != 3 {
		t.Fatalf("batches %+v, want one of 3", batches)
	}
	if err := a.Release(ctx, batches[0]); err != nil {
		t.Fatal(err)
	}
	// The 4 that came while it was sealed start the next batch, already
	// past its number: the next add seals it.
	next, err := b.Add(ctx, "batch", held("r", 9, time.Now()), 3)
	if err != nil || next == nil || len(next.Items) != 5 || next.Gen == batches[0].Gen {
		t.Fatalf("next batch %+v %v", next, err)
	}
	ids := map[string]bool{}
	for _, bt := range []*engine.Batch{batches[0], next} {
		for _, m := range bt.Items {
			ids[m.EventID] = true
		}
	}
	if len(ids) != 8 {
		t.Fatalf("%d distinct messages over both batches, want 8", len(ids))
	}
}

// TestHoldDueAndTakeover: a batch past its timeout is sealed once; one
// sealed by a controller that never released it is taken over with the
// same id.
func TestHoldDueAndTakeover(t *testing.T) {
	s, _ := openState(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	a, _ := jsstate.NewHold(ctx, s.Hold, "a", log)
	b, _ := jsstate.NewHold(ctx, s.Hold, "b", log)
	t0 := time.Now()
	for i := range 2 {
		if got, err := a.Add(ctx, "late", held("slow", i, t0), 0); err != nil || got != nil {
			t.Fatalf("%v %v", got, err)
		}
	}
	timeout := func(string) time.Duration { return time.Minute }
	due := func(h *jsstate.Hold, at time.Time) []*engine.Batch {
		var got []*engine.Batch
		deadline := time.Now().Add(10 * time.Second)
		for len(got) == 0 && time.Now().Before(deadline) { // the index follows the bucket's watch
			var err error
			if got, err = h.Due(ctx, at, timeout); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return got
	}
	if got, _ := a.Due(ctx, t0.Add(30*time.Second), timeout); len(got) != 0 {
		t.Fatalf("due before its timeout: %+v", got)
	}
	first := due(a, t0.Add(2*time.Minute))
	if len(first) != 1 || len(first[0].Items) != 2 {
		t.Fatalf("due batches %+v", first)
	}
	if got, _ := b.Due(ctx, t0.Add(2*time.Minute+time.Second), timeout); len(got) != 0 {
		t.Fatalf("a sealed batch handed out twice: %+v", got)
	}
	// a dies without releasing; 5 minutes later b takes it over.
	again := due(b, t0.Add(10*time.Minute))
	if len(again) != 1 || again[0].Gen != first[0].Gen {
		t.Fatalf("takeover %+v, want batch %d again", again, first[0].Gen)
	}
	if err := b.Release(ctx, again[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold.Get(ctx, "late"); err == nil {
		t.Fatal("released batch still held")
	}
}

func TestMarks(t *testing.T) {
	s, _ := openState(t)
	ctx := context.Background()
	m := jsstate.Marks{KV: s.Marks}
	keys := []string{"ev/route with spaces/action", "ev/r/a"}
	for _, k := range keys {
		if mk, err := m.Mark(ctx, k); err != nil || mk != engine.MarkNone {
			t.Fatalf("%s: %v %v", k, mk, err)
		}
	}
	_ = m.SetMark(ctx, keys[0], engine.MarkStarted)
	_ = m.SetMark(ctx, keys[1], engine.MarkDone)
	got := []string{}
	for _, k := range keys {
		mk, _ := m.Mark(ctx, k)
		got = append(got, fmt.Sprint(mk))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprintf("[%d %d]", engine.MarkStarted, engine.MarkDone) {
		t.Fatalf("marks %v", got)
	}
}
