package controller

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Every function runs once, never more than n at a time, and idle workers
// end.
func TestWorkersBoundAndEnd(t *testing.T) {
	const n = 4
	w := newWorkers(n, 20*time.Millisecond)
	var running, peak, ran atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		w.Go(func() {
			defer wg.Done()
			now := running.Add(1)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			ran.Add(1)
		})
	}
	wg.Wait()
	if ran.Load() != 200 || peak.Load() > n || peak.Load() < 2 {
		t.Fatalf("ran %d, at most %d at once (bound %d)", ran.Load(), peak.Load(), n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(w.slots) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(w.slots) != 0 {
		t.Fatalf("%d idle workers did not end", len(w.slots))
	}
	done := make(chan struct{})
	w.Go(func() { close(done) }) // workers start again after ending
	<-done
}

// After stop, idle workers end at once, however long their idle time.
func TestWorkersStop(t *testing.T) {
	w := newWorkers(4, time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		w.Go(func() { time.Sleep(time.Millisecond); wg.Done() })
	}
	wg.Wait()
	w.stop()
	deadline := time.Now().Add(5 * time.Second)
	for len(w.slots) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if len(w.slots) != 0 {
		t.Fatalf("%d workers still running after stop", len(w.slots))
	}
}

type progressMsg struct {
	jetstream.Msg
	n atomic.Int64
}

func (m *progressMsg) InProgress() error { m.n.Add(1); return nil }

// A message being handled is reported in progress every period until the
// handling stops, and never after.
func TestKeepAlive(t *testing.T) {
	m := &progressMsg{}
	stop := keepAlive(m, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for m.n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	n := m.n.Load()
	if n < 3 {
		t.Fatalf("%d progress reports", n)
	}
	time.Sleep(50 * time.Millisecond)
	if m.n.Load() != n {
		t.Fatalf("reported in progress after the stop: %d, then %d", n, m.n.Load())
	}
}
