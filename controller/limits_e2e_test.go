package controller_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// queueLimitCfg routes TRC-1 to postee-runner-1 and TRC-2 to postee-runner-2.
func queueLimitCfg(out string) string {
	return `name: limits
routes:
- name: one
  input: contains(input.SigMetadata.ID, "TRC-1")
  actions: [exec-1]
  template: raw-json
- name: two
  input: contains(input.SigMetadata.ID, "TRC-2")
  actions: [exec-2]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: exec-1
  runs-on: postee-runner-1
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID one" >> ` + out + `
- name: exec-2
  runs-on: postee-runner-2
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID" >> ` + out + `
`
}

// With postee-runner-1 down, posts for it fill its queue (3 jobs here); the
// event past that is taken but waits in the controllers' stream, and the
// posts after it are refused with 503 naming that queue while /healthz says
// so. Work for postee-runner-2 keeps being queued and run, and once
// postee-runner-1 is back every event taken ran once on it.
func TestFullRunnerQueueRefusesOnlyThatRunner(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.NewController(t, c, fleettest.WriteCfg(t, dir, queueLimitCfg(out)), func(s *controller.Settings) { s.RunnerQueueMaxMessages = 3 })
	h.Timings.EventRetry = 50 * time.Millisecond // the event past the limit is queued soon after runner-1 drains, not 5 s on
	h.Start()
	startRunner(t, h, "postee-runner-2", "node-2")

	base := "http://" + h.Ctrl.HTTPAddr()
	var taken []string
	for i := range 4 {
		taken = append(taken, h.Post("/", trc1(t, i))["event_id"].(string))
	}
	var hb []byte
	fleettest.Eventually(t, "/healthz naming the full queue", func() bool {
		hz, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		hb, _ = io.ReadAll(hz.Body)
		hz.Body.Close()
		return hz.StatusCode != http.StatusOK && strings.Contains(string(hb), "posteed.work.postee-runner-1")
	})
	resp, err := http.Post(base+"/", "application/json", strings.NewReader(trc1(t, 4)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "work queue posteed.work.postee-runner-1 of runner postee-runner-1 is full") {
		t.Fatalf("post for the stopped runner's full queue: %s %s", resp.Status, body)
	}

	var ids []string
	for i := range 5 { // one at a time: runner-2's queue holds 3 too
		ids = append(ids, h.Post("/", trc2(t, i))["event_id"].(string))
		fleettest.Eventually(t, "runner-2's work done and acked", func() bool {
			return len(countIDs(out)) == len(ids) && pendingWork(t, h, "postee-runner-2") == 0
		})
	}
	if err := exactlyOnce(countIDs(out), ids); err != nil {
		t.Fatal(err)
	}
	startRunner(t, h, "postee-runner-1", "node-1")
	all := append(ids, taken...)
	fleettest.Eventually(t, "every event taken for runner-1 run", func() bool { return len(fleettest.ReadLines(out)) == len(all) })
	assertStable(t, func() bool { return exactlyOnce(countIDs(out), all) == nil })
}

func trc2(t *testing.T, n int) string {
	return strings.Replace(trc1(t, n), `"ID":"TRC-1"`, `"ID":"TRC-2"`, 1)
}

// runner-2 tries to flood runner-1's queue with reflected API responses
// while runner-1 is down (17,687 junk jobs in 0.7 s once): the work subject
// is in the fleet's account, out of reach of the runners' account, and the
// queue keeps only runner-1's real job.
func TestReflectedFloodCannotReachAnotherRunnersQueue(t *testing.T) {
	dir := t.TempDir()
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(`true`)),
		func(s *controller.Settings) { s.RunnerQueueMaxMessages = 5 })
	h.Post("/", trc1(t, 0)) // runner-1's queue exists from here

	nc, err := transport.Connect(context.Background(), transport.ConnOptions{
		URL: h.Ctrl.NATSURL(), Name: "postee-runner-2", CertFile: c.Path("postee-runner-2.crt"),
		KeyFile: c.Path("postee-runner-2.key"), CAFile: c.Path("ca.crt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	info := transport.JSAPIPrefix + ".CONSUMER.INFO." + transport.WorkStream + ".postee-runner-2"
	for range 200 {
		if err := nc.PublishRequest(info, transport.Work("postee-runner-1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	fleettest.Eventually(t, "runner-1's real job queued", func() bool { return pendingOf(t, h, "postee-runner-1") == 1 })
	assertStable(t, func() bool { return pendingOf(t, h, "postee-runner-1") == 1 })
}

func pendingOf(t *testing.T, h *fleettest.Controller, runner string) uint64 {
	for _, ri := range fleetView(t, h) {
		if ri.Name == runner {
			return ri.PendingWork
		}
	}
	return 0
}

// pendingWork is the work the fleet view counts as queued for runner.
func pendingWork(t *testing.T, h *fleettest.Controller, runner string) uint64 {
	for _, ri := range fleetView(t, h) {
		if ri.Name == runner {
			return ri.PendingWork
		}
	}
	return 0
}
