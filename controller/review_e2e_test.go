package controller_test

import (
	"path/filepath"
	"testing"

	"github.com/postee-fleet/posteed/agent/runner"
)

// A runner that took events before it ever had a config could not run its
// own actions for them; the controller sends those back to it as work, so
// each still runs once, on the runner.
func TestRunnerWithoutConfigGetsItsActionsBack(t *testing.T) {
	recv := newReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := newCerts(t, "postee-runner-1")
	natsAddr := freeNATSAddr(t)
	cfg := writeCfg(t, dir, mixedCfg(recv.URL, out))
	h := startControllerOn(t, c, cfg, t.TempDir(), natsAddr)
	url := h.ctrl.NATSURL()
	h.shutdown() // the runner starts while the controller is down, with no cached config
	r1 := newRunner(t, h, "postee-runner-1", "node-1", func(s *runner.Settings) { s.ControllerURL = url })
	r1.startAsync()
	eventually(t, "runner serving", func() bool {
		select {
		case <-r1.r.Ready():
			return true
		default:
			return false
		}
	})
	var ids []string
	for i := range 5 {
		ids = append(ids, r1.post("/", trc1(t, i))["event_id"].(string))
	}
	if r1.r.Revision() != 0 {
		t.Fatal("the runner has a config; the test needs it without")
	}
	h.start()
	eventually(t, "runner actions back as work and the controller's side", func() bool {
		return len(countIDs(out)) == len(ids) && len(recv.got("/controller")) == len(ids)
	})
	assertStable(t, func() bool { return exactlyOnce(countIDs(out), ids) == nil && len(recv.got("/controller")) == len(ids) })
}

// A runner reporting another live runner's host name does not get that
// host's @origin work.
func TestOriginHostCannotBeTakenOver(t *testing.T) {
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "r1.out"), filepath.Join(dir, "r2.out")
	cfg := writeCfg(t, dir, `
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
	c := newCerts(t, "postee-runner-1", "postee-runner-2")
	h := startController(t, c, cfg, t.TempDir())
	t.Setenv("OUT_FILE", out1)
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	eventually(t, "runner-1 config", func() bool { return r1.r.Revision() > 0 })
	eventually(t, "runner-1 holds node-1", func() bool {
		for _, ri := range fleetView(t, h) {
			if ri.Name == "postee-runner-1" && ri.Connected {
				return true
			}
		}
		return false
	})
	t.Setenv("OUT_FILE", out2)
	r2 := startRunner(t, h, "postee-runner-2", "node-1") // claims runner-1's host
	eventually(t, "runner-2 config", func() bool { return r2.r.Revision() > 0 })
	h.logs.wait(t, "runner reports a host name another live runner holds; origin work for that host stays with the first", "runner", "postee-runner-2")
	var ids []string
	for range 5 {
		ids = append(ids, h.post("/", `{"hostName":"node-1"}`)["event_id"].(string))
	}
	eventually(t, "origin work on runner-1", func() bool { return len(countIDs(out1)) == len(ids) })
	assertStable(t, func() bool { return len(readLines(out2)) == 0 })
}
