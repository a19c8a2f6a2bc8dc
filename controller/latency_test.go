package controller_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// latencyCfg sends TRC-1 to an exec on postee-runner-1 and TRC-2 to the same
// exec on the controller (the baseline without the runner channel); the
// exec writes the event id into a fifo the test reads.
func latencyCfg(fifo string) string {
	return fmt.Sprintf(`name: latency
routes:
- name: remote
  input: contains(input.SigMetadata.ID, "TRC-1")
  runs-on: postee-runner-1
  actions: [ping]
  template: raw-json
- name: local
  input: contains(input.SigMetadata.ID, "TRC-2")
  actions: [ping]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: ping
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID" > %q
`, fifo)
}

// fifoArrivals reads ids from a fifo and records when each arrived.
type fifoArrivals struct {
	mu   sync.Mutex
	at   map[string]time.Time // guarded by mu
	cond *sync.Cond
}

func readFifo(t *testing.T, path string) *fifoArrivals {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read-write, so the open does not block and writers closing is no EOF.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	a := &fifoArrivals{at: map[string]time.Time{}}
	a.cond = sync.NewCond(&a.mu)
	go func() {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			now := time.Now()
			a.mu.Lock()
			a.at[strings.TrimSpace(sc.Text())] = now
			a.cond.Broadcast()
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *fifoArrivals) wait(t *testing.T, id string) time.Time {
	t.Helper()
	deadline := time.AfterFunc(10*time.Second, func() { a.cond.Broadcast() })
	defer deadline.Stop()
	start := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if at, ok := a.at[id]; ok {
			return at
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("exec for %s never ran", id)
		}
		a.cond.Wait()
	}
}

// TestLatencyEventToRunnerExec measures event posted to the controller →
// exec finished on a runner over TLS NATS, one event at a time, against the
// same exec run on the controller. Set POSTEED_LATENCY=1 to run it.
func TestLatencyEventToRunnerExec(t *testing.T) {
	if os.Getenv("POSTEED_LATENCY") == "" {
		t.Skip("set POSTEED_LATENCY=1 to measure")
	}
	dir := t.TempDir()
	fifo := readFifo(t, filepath.Join(dir, "done.fifo"))
	c := fleettest.NewCerts(t, "postee-runner-1")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, latencyCfg(filepath.Join(dir, "done.fifo"))))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })

	const n = 500
	events := map[string]string{
		"controller": fleettest.Sample(t, "tracee-finding-legacy.json"),
		"runner":     strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")[0],
	}
	for _, where := range []string{"controller", "runner"} {
		var lat []time.Duration
		for i := range n + 10 {
			start := time.Now()
			id := h.Post("/", events[where])["event_id"].(string)
			d := fifo.wait(t, id).Sub(start)
			if i >= 10 { // warm-up
				lat = append(lat, d)
			}
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))].Round(10 * time.Microsecond) }
		t.Logf("exec on the %s: n=%d p50=%v p90=%v p99=%v max=%v", where, len(lat), p(0.5), p(0.9), p(0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	}

	// Throughput: a burst, the runner working through its queue one job
	// after another (each recorded with an fsync before its ack).
	start := time.Now()
	var ids []string
	for range n {
		ids = append(ids, h.Post("/", events["runner"])["event_id"].(string))
	}
	for _, id := range ids {
		fifo.wait(t, id)
	}
	d := time.Since(start)
	t.Logf("burst of %d runner events: %v, %.0f events/s", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
}
