package controller_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// A runner that took events before it ever had a config could not run its
// own actions for them; the controller sends those back to it as work, so
// each still runs once, on the runner.
func TestRunnerWithoutConfigGetsItsActionsBack(t *testing.T) {
	recv := fleettest.NewReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1")
	natsAddr := fleettest.FreeAddr(t)
	cfg := fleettest.WriteCfg(t, dir, mixedCfg(recv.URL, out))
	h := fleettest.StartController(t, c, cfg, fleettest.ListenNATS(natsAddr))
	url := h.Ctrl.NATSURL()
	h.Shutdown() // the runner starts while the controller is down, with no cached config
	r1 := newRunner(t, h, "postee-runner-1", "node-1", func(s *runner.Settings) { s.ControllerURL = url })
	r1.opts.Timings.ConfigWait = 100 * time.Millisecond // serving without a config: soon, not in 10 s
	r1.StartAsync()
	fleettest.Eventually(t, "runner serving", func() bool {
		select {
		case <-r1.r.Ready():
			return true
		default:
			return false
		}
	})
	var ids []string
	for i := range 5 {
		ids = append(ids, r1.Post("/", trc1(t, i))["event_id"].(string))
	}
	if r1.r.Revision() != 0 {
		t.Fatal("the runner has a config; the test needs it without")
	}
	h.Start()
	fleettest.Eventually(t, "runner actions back as work and the controller's side", func() bool {
		return len(countIDs(out)) == len(ids) && len(recv.Got("/controller")) == len(ids)
	})
	assertStable(t, func() bool { return exactlyOnce(countIDs(out), ids) == nil && len(recv.Got("/controller")) == len(ids) })
}

// @origin work for a host goes only to a runner entitled to it: one whose
// certificate names the host, or origin-hosts maps it to. A runner merely
// reporting the host name (its hostname, its Tracee events) gets none, and
// a host no runner is entitled to gets its origin actions refused, loudly.
func TestOriginHostNeedsEntitlement(t *testing.T) {
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "r1.out"), filepath.Join(dir, "r2.out")
	cfg := fleettest.WriteCfg(t, dir, `
routes:
- name: origin
  actions: [contain]
  template: t
templates:
- {name: t, rego-package: postee.rawmessage.json}
actions:
- name: contain
  type: exec
  enable: true
  runs-on: "@origin"
  exec-script: echo "$POSTEE_EVENT_ID" >> "$OUT"
  env: ["OUT=$OUT_FILE"]
`)
	c := fleettest.NewCerts(t, "postee-runner-1=node-1", "postee-runner-2")
	h := fleettest.StartController(t, c, cfg, func(s *controller.Settings) {
		s.OriginHosts = settings.Map{"node-9": "postee-runner-1"}
	})
	t.Setenv("OUT_FILE", out1)
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	t.Setenv("OUT_FILE", out2)
	r2 := startRunner(t, h, "postee-runner-2", "node-1") // reports runner-1's host
	fleettest.Eventually(t, "runner configs", func() bool { return r1.r.Revision() > 0 && r2.r.Revision() > 0 })
	fleettest.Eventually(t, "runner-1 entitled to node-1 and node-9, runner-2 to nothing", func() bool {
		hosts := map[string]string{}
		for _, ri := range fleetView(t, h) {
			if ri.Connected {
				hosts[ri.Name] = strings.Join(ri.Hosts, ",")
			}
		}
		return hosts["postee-runner-1"] == "node-1,node-9" && len(hosts) == 2 && hosts["postee-runner-2"] == ""
	})
	var ids []string
	for _, host := range []string{"node-1", "NODE-1", "node-9"} {
		ids = append(ids, h.Post("/", `{"hostName":"`+host+`"}`)["event_id"].(string))
	}
	stray := h.Post("/", `{"hostName":"node-2"}`)["event_id"].(string)
	h.Logs.Wait(t, "no runner entitled to the event's host; origin action not run", "event_id", stray, "host", "node-2")
	fleettest.Eventually(t, "origin work on runner-1", func() bool { return exactlyOnce(countIDs(out1), ids) == nil })
	assertStable(t, func() bool { return len(fleettest.ReadLines(out2)) == 0 && exactlyOnce(countIDs(out1), ids) == nil })
}
