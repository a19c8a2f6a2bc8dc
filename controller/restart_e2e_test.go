package controller_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// workCfg places route "work" (TRC-1 findings) on postee-runner-1 with an
// exec action running script.
func workCfg(script string) string {
	return fmt.Sprintf(`name: work
routes:
- name: work
  input: contains(input.SigMetadata.ID, "TRC-1")
  actions: [runner-exec]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: runner-exec
  runs-on: postee-runner-1
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
%s
`, indent(script, "    "))
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+by)
}

// trc1 is the TRC-1 finding with a distinct process id, so n events are n
// different bodies.
func trc1(t *testing.T, n int) string {
	line := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")[0]
	return strings.Replace(line, `"processId":5000`, fmt.Sprintf(`"processId":%d`, 10000+n), 1)
}

// countIDs counts the lines of an exec output file per event id.
func countIDs(path string) map[string]int {
	n := map[string]int{}
	for _, l := range fleettest.ReadLines(path) {
		n[strings.Fields(l)[0]]++
	}
	return n
}

// exactlyOnce reports whether every id ran once and nothing else ran.
func exactlyOnce(got map[string]int, ids []string) error {
	for _, id := range ids {
		if got[id] != 1 {
			return fmt.Errorf("event %s ran %d times", id, got[id])
		}
	}
	if len(got) != len(ids) {
		return fmt.Errorf("%d events ran, %d posted", len(got), len(ids))
	}
	return nil
}

// A runner stopped half-way through a stream of dispatched work and started
// again on the same state directory runs every job exactly once.
func TestRunnerRestartMidStreamExactlyOnce(t *testing.T) {
	tests := []struct {
		name   string
		script string // $OUT is the output file
		n      int    // events posted
		stopAt int    // lines written before the runner stops
	}{
		// Stopped between jobs or while a script sleeps before its effect.
		{"stop between jobs", `sleep 0.02; echo "$POSTEE_EVENT_ID" >> "$OUT"`, 50, 25},
		// Stopped right after a script's effect, before it exits: the job
		// ran but was not acked yet.
		{"stop after the effect, before the ack", `echo "$POSTEE_EVENT_ID" >> "$OUT"; sleep 0.2`, 20, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "exec.out")
			script := fmt.Sprintf("OUT=%q\n%s", out, tt.script)
			c := fleettest.NewCerts(t, "postee-runner-1")
			h := fleettest.NewController(t, c, fleettest.WriteCfg(t, dir, workCfg(script)))
			// A job on its way to the runner when it stops (sent for a pull
			// request, not yet in the client) reaches no handler that could
			// hand it back: JetStream delivers it again after the ack wait.
			// 2 s instead of 30 keeps that case inside the test's wait.
			h.Timings.WorkAckWait = 2 * time.Second
			h.Start()
			r1 := startRunner(t, h, "postee-runner-1", "node-1")
			fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })

			n := tt.n
			var ids []string
			for i := range n {
				ans := h.Post("/", trc1(t, i))
				ids = append(ids, ans["event_id"].(string))
			}
			fleettest.Eventually(t, "work under way", func() bool { return len(fleettest.ReadLines(out)) >= tt.stopAt })
			r1.Shutdown()
			ran := len(fleettest.ReadLines(out))
			if ran == n {
				t.Fatalf("all %d jobs ran before the runner stopped; the test stopped nothing", n)
			}
			t.Logf("runner stopped after %d of %d jobs", ran, n)
			r1.Start()
			fleettest.Eventually(t, "every job", func() bool { return len(countIDs(out)) == n })
			assertStable(t, func() bool { return exactlyOnce(countIDs(out), ids) == nil })
			if err := exactlyOnce(countIDs(out), ids); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// mixedCfg is a route whose exec runs on postee-runner-1 and whose http
// post runs on the controller.
func mixedCfg(recv, out string) string {
	return fmt.Sprintf(`name: mixed
routes:
- name: mixed
  input: contains(input.SigMetadata.ID, "TRC-1")
  actions: [runner-exec, controller-post]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: runner-exec
  runs-on: postee-runner-1
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID" >> %[2]q
- name: controller-post
  type: http
  enable: true
  url: "%[1]s/controller"
  method: POST
  body-content: |
    pid event.input.Context.processId
`, recv, out)
}

// While the controller is down, a runner takes events (spooled); once the
// controller is back, it runs its side of every one of them, once.
func TestControllerRestartRunnerSpools(t *testing.T) {
	recv := fleettest.NewReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, mixedCfg(recv.URL, out)), fleettest.ListenNATS(fleettest.FreeAddr(t)))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })

	r1.Post("/", trc1(t, 0))
	fleettest.Eventually(t, "first event on both sides", func() bool { return len(recv.Got("/controller")) == 1 && len(fleettest.ReadLines(out)) == 1 })

	h.Shutdown()
	const m = 30
	for i := 1; i <= m; i++ {
		r1.Post("/", trc1(t, i))
	}
	fleettest.Eventually(t, "runner-side actions while the controller is down", func() bool { return len(fleettest.ReadLines(out)) == m+1 })
	if got := len(recv.Got("/controller")); got != 1 {
		t.Fatalf("controller ran %d actions while stopped", got)
	}

	h.Start()
	fleettest.Eventually(t, "controller-side actions after the restart", func() bool { return len(recv.Got("/controller")) == m+1 })
	assertStable(t, func() bool { return len(recv.Got("/controller")) == m+1 && len(fleettest.ReadLines(out)) == m+1 })
	seen := map[string]bool{}
	for _, b := range recv.Got("/controller") {
		if seen[b] {
			t.Fatalf("controller action ran twice for %q", b)
		}
		seen[b] = true
	}
}
