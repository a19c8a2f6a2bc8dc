package controller_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/controller/cli"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// seedOrchestration is testdata/configs/seed-orchestration-model.yaml with
// the sample URLs pointed at a local receiver and the exec script writing
// "<event id> <route> <time in ns>" to out after 100 ms, so the order of the
// serialized exec and http post is visible.
func seedOrchestration(recv, out string) string {
	return fmt.Sprintf(`version: v1
type: controller
name: Postee-Controller-Runnner

routes:
- name: local-route
  input: contains(input.image, "alpine:3.10")
  outputs: [my-http-post-from-controller]
  template: raw-json

- name: remote-route
  input: contains(input.SigMetadata.ID, "TRC-2")
  runs-on: "postee-runner-1"
  serialize-outputs: true
  outputs: [my-exec-from-runner, my-http-post-from-runner]
  template: raw-json

- name: remote-route-2
  input: contains(input.SigMetadata.ID, "TRC-3")
  runs-on: "postee-runner-2"
  serialize-outputs: true
  outputs: [my-exec-from-runner]
  template: raw-json

templates:
- name: raw-json
  rego-package: postee.rawmessage.json

outputs:
- name: my-http-post-from-controller
  type: http
  enable: true
  url: "%[1]s/controller"
  method: POST
  body-content: |
    This is an example of a inline body
    Input Image: event.input.image

- name: my-exec-from-runner
  type: exec
  enable: true
  env: ["MY_ENV_VAR=foo_bar_baz", "MY_KEY=secret"]
  exec-script: |
    #!/bin/sh
    sleep 0.1
    echo "$POSTEE_EVENT_ID $POSTEE_ROUTE $(date +%%s%%N)" >> %[2]q

- name: my-http-post-from-runner
  type: http
  enable: true
  url: "%[1]s/runner"
  method: POST
  body-content: |
    This is an another example of a inline body
    Event ID: event.input.SigMetadata.ID
`, recv, out)
}

// TestSeedOrchestrationModel runs the seed with one controller and its
// embedded server, and with two controllers on a NATS cluster (events
// posted to both).
func TestSeedOrchestrationModel(t *testing.T) { forEachTopology(t, testSeedOrchestrationModel) }

func testSeedOrchestrationModel(t *testing.T, top topology) {
	recv := fleettest.NewReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	hs := top.start(t, c, fleettest.WriteCfg(t, dir, seedOrchestration(recv.URL, out)))
	h, h2 := hs[0], hs[len(hs)-1]
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	r2 := startRunner(t, h, "postee-runner-2", "node-2")
	rev := h.Ctrl.Revision()
	fleettest.Eventually(t, "runner configs", func() bool { return r1.r.Revision() == rev && r2.r.Revision() == rev })

	// Route-level runs-on: each runner holds exactly its route, and no
	// controller action.
	for _, tc := range []struct {
		rh          *runnerHarness
		route, not  string
		wantActions []string
	}{
		{r1, "remote-route", "remote-route-2", []string{"my-exec-from-runner", "my-http-post-from-runner"}},
		{r2, "remote-route-2", "remote-route", []string{"my-exec-from-runner"}},
	} {
		eng := tc.rh.r.Engine()
		if _, ok := eng.Route(tc.route); !ok || len(eng.Routes()) != 1 {
			t.Fatalf("%s: routes %d, want only %s", tc.rh.name, len(eng.Routes()), tc.route)
		}
		for _, a := range tc.wantActions {
			if !eng.Has(a) {
				t.Fatalf("%s lacks action %s", tc.rh.name, a)
			}
		}
		if eng.Has("my-http-post-from-controller") {
			t.Fatalf("%s holds the controller's action", tc.rh.name)
		}
	}

	// local-route on the controller.
	h.Post("/", fleettest.Sample(t, "image-scan.json"))
	fleettest.Eventually(t, "local-route", func() bool { return len(recv.Got("/controller")) == 1 })

	// remote-route: TRC-2 to the controller runs on runner-1, exec then http.
	before := time.Now()
	trc2 := h2.Post("/", fleettest.Sample(t, "tracee-finding-legacy.json"))["event_id"].(string)
	fleettest.Eventually(t, "remote-route", func() bool { return len(recv.Got("/runner")) == 1 })
	execAt := execTime(t, out, trc2, "remote-route")
	httpAt := recv.Arrivals("/runner")[0]
	if execAt.Before(before.Add(100*time.Millisecond)) || !httpAt.After(execAt) {
		t.Fatalf("serialize-outputs: exec finished %v, http arrived %v after the post; want exec (≥100 ms) first",
			execAt.Sub(before), httpAt.Sub(before))
	}
	t.Logf("remote-route: exec done %v, http arrived %v after the post", execAt.Sub(before).Round(time.Millisecond), httpAt.Sub(before).Round(time.Millisecond))

	// remote-route-2: TRC-3 runs on runner-2, even when runner-1 took it in.
	trc3 := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")[2]
	viaCtrl := h2.Post("/", trc3)["event_id"].(string)
	viaR1 := r1.Post("/", trc3)["event_id"].(string)
	fleettest.Eventually(t, "remote-route-2", func() bool { return len(fleettest.ReadLines(out)) == 3 })
	for _, id := range []string{viaCtrl, viaR1} {
		execTime(t, out, id, "remote-route-2")
		r2.Logs.Wait(t, "exec script finished", "event_id", id, "action", "my-exec-from-runner")
		if r1.Logs.Has("exec script finished", "event_id", id) {
			t.Fatalf("runner-1 ran remote-route-2 for %s", id)
		}
	}
	if r2.Logs.Has("exec script finished", "event_id", trc2) {
		t.Fatal("runner-2 ran remote-route")
	}
	assertStable(t, func() bool {
		return len(fleettest.ReadLines(out)) == 3 && len(recv.Got("/runner")) == 1 && len(recv.Got("/controller")) == 1
	})
}

// execTime is the time the exec action of route wrote for event id.
func execTime(t *testing.T, out, id, route string) time.Time {
	t.Helper()
	for _, l := range fleettest.ReadLines(out) {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id && f[1] == route {
			ns, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return time.Unix(0, ns)
		}
	}
	t.Fatalf("no exec line for %s %s in %q", id, route, fleettest.ReadLines(out))
	return time.Time{}
}

// originCfg runs one action on the runner of the host the event names.
func originCfg(out string) string {
	return fmt.Sprintf(`name: origin
routes:
- name: on-origin
  input: contains(input.metadata.Properties.signatureID, "TRC-102")
  actions: [origin-exec]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: origin-exec
  runs-on: "@origin"
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID" >> %q
`, out)
}

func TestOriginRouting(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1=node-1", "postee-runner-2=node-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, originCfg(out)))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	r2 := startRunner(t, h, "postee-runner-2", "node-2")
	fleettest.Eventually(t, "both runners known with the hosts of their certificates", func() bool {
		hosts := map[string]string{}
		for _, ri := range fleetView(t, h) {
			hosts[ri.Name] = strings.Join(ri.Hosts, ",")
		}
		return hosts["postee-runner-1"] == "node-1" && hosts["postee-runner-2"] == "node-2"
	})

	ev := strings.Replace(fleettest.Sample(t, "tracee-finding.json"), `"hostName":"node-1"`, `"hostName":"node-2"`, 1)
	if !strings.Contains(ev, `"hostName":"node-2"`) {
		t.Fatal("sample has no hostName node-1 to rewrite")
	}
	id := h.Post("/", ev)["event_id"].(string)
	r2.Logs.Wait(t, "exec script finished", "event_id", id, "action", "origin-exec")
	assertStable(t, func() bool { return len(fleettest.ReadLines(out)) == 1 })
	if r1.Logs.Has("exec script finished", "event_id", id) {
		t.Fatal("runner-1 ran the action of an event from node-2")
	}
}

func fleetView(t *testing.T, h *fleettest.Controller) []controller.RunnerInfo {
	t.Helper()
	resp, err := http.Get("http://" + h.Ctrl.AdminAddr() + "/runners")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []controller.RunnerInfo
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return list
}

func TestFleetView(t *testing.T) {
	recv := fleettest.NewReceiver(t)
	dir := t.TempDir()
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, seedOrchestration(recv.URL, filepath.Join(dir, "out"))))
	startRunner(t, h, "postee-runner-1", "node-1")
	r2 := startRunner(t, h, "postee-runner-2", "node-2")
	var list []controller.RunnerInfo
	fleettest.Eventually(t, "both runners current in the fleet view", func() bool {
		list = fleetView(t, h)
		n := 0
		for _, ri := range list {
			if ri.Connected && ri.ConfigRevision == 1 && ri.ConfigCurrent {
				n++
			}
		}
		return n == 2
	})
	want := map[string]string{"postee-runner-1": "node-1", "postee-runner-2": "node-2"}
	for _, ri := range list {
		if want[ri.Name] != ri.Host || ri.Version != "test" || ri.LastHeartbeat.IsZero() || ri.PendingWork != 0 {
			t.Fatalf("fleet view entry %+v", ri)
		}
		if time.Since(ri.LastHeartbeat) > time.Minute {
			t.Fatalf("%s: last heartbeat %v", ri.Name, ri.LastHeartbeat)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := cli.Main([]string{"runners", "--url", h.Ctrl.AdminAddr()}, "test", &stdout, &stderr); code != 0 {
		t.Fatalf("runners exited %d: %s", code, stderr.String())
	}
	table := stdout.String()
	t.Logf("posteed-controller runners:\n%s", table)
	for _, row := range []string{"postee-runner-1", "postee-runner-2"} {
		line := lineWith(table, row)
		for _, cell := range []string{want[row], "test", "connected"} {
			if !strings.Contains(line, " "+cell+" ") {
				t.Fatalf("row %q lacks %q", line, cell)
			}
		}
	}
	if !strings.HasPrefix(table, "NAME") {
		t.Fatalf("no header: %q", table)
	}

	// A runner that stops cleanly says goodbye: it shows disconnected at
	// once, not after the heartbeat window (30 s, longer than eventually
	// waits).
	r2.Shutdown()
	fleettest.Eventually(t, "runner-2 disconnected after its clean stop", func() bool {
		for _, ri := range fleetView(t, h) {
			if ri.Name == "postee-runner-2" {
				return !ri.Connected
			}
		}
		return false
	})
	// Work queued for a stopped runner is its backlog.
	h.Post("/", strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")[2])
	fleettest.Eventually(t, "runner-2's backlog", func() bool {
		for _, ri := range fleetView(t, h) {
			if ri.Name == "postee-runner-2" {
				return ri.PendingWork == 1
			}
		}
		return false
	})
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l + " "
		}
	}
	return ""
}
