package controller_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// twoRunnerCfg places TRC-1 on runner-1 and TRC-3 on runner-2, each exec
// writing "<tag> <event id>"; extra is appended to routes.
func twoRunnerCfg(out, tag, extra string) string {
	return fmt.Sprintf(`name: reload
routes:
- name: on-1
  input: contains(input.SigMetadata.ID, "TRC-1")
  runs-on: postee-runner-1
  actions: [note]
  template: raw-json
- name: on-2
  input: contains(input.SigMetadata.ID, "TRC-3")
  runs-on: postee-runner-2
  actions: [note]
  template: raw-json
%[3]s
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: note
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "%[2]s $POSTEE_EVENT_ID $POSTEE_ROUTE" >> %[1]q
`, out, tag, extra)
}

func TestReloadReachesRunners(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	cfg := fleettest.WriteCfg(t, dir, twoRunnerCfg(out, "v1", ""))
	h := fleettest.StartController(t, c, cfg)
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	r2 := startRunner(t, h, "postee-runner-2", "node-2")
	fleettest.Eventually(t, "runner configs", func() bool { return r1.r.Revision() == 1 && r2.r.Revision() == 1 })
	lines := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")
	trc1, trc2, trc3 := lines[0], fleettest.Sample(t, "tracee-finding-legacy.json"), lines[2]

	// A changed script and a new route for runner-1.
	fleettest.WriteCfg(t, dir, twoRunnerCfg(out, "v2", `- name: on-1-new
  input: contains(input.SigMetadata.ID, "TRC-2")
  runs-on: postee-runner-1
  actions: [note]
  template: raw-json`))
	start := time.Now()
	h.Reload <- struct{}{}
	applied := awaitFast(t, func() bool { return r1.r.Revision() == 2 && r2.r.Revision() == 2 })
	t.Logf("reload → both runners on revision 2 in %v", applied.Sub(start).Round(100*time.Microsecond))
	if d := applied.Sub(start); d > time.Second {
		t.Errorf("runners took %v to apply a reload; target is 1 s", d)
	}
	ids := map[string]string{
		h.Post("/", trc1)["event_id"].(string): "on-1",
		h.Post("/", trc3)["event_id"].(string): "on-2",
		h.Post("/", trc2)["event_id"].(string): "on-1-new",
	}
	fleettest.Eventually(t, "new behaviour on both runners", func() bool { return len(fleettest.ReadLines(out)) == 3 })
	for _, l := range fleettest.ReadLines(out) {
		f := strings.Fields(l)
		if f[0] != "v2" || ids[f[1]] != f[2] {
			t.Fatalf("after the reload: %q", l)
		}
	}

	// An invalid config is refused: the controller keeps revision 2 and its
	// engine, the runners keep working with it.
	eng := h.Ctrl.Engine()
	if err := os.WriteFile(cfg, []byte("routes:\n- name: broken\n  actions: [undefined-action]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Reload <- struct{}{}
	h.Logs.Wait(t, "reload failed, keeping the running config", "config_revision", "2")
	if h.Ctrl.Engine() != eng {
		t.Fatal("controller swapped in the invalid config")
	}
	h.Post("/", trc1)
	r2.Post("/", trc3)
	fleettest.Eventually(t, "work after the failed reload", func() bool { return len(fleettest.ReadLines(out)) == 5 })
	if r1.r.Revision() != 2 || r2.r.Revision() != 2 {
		t.Fatalf("runner revisions %d, %d after a failed reload", r1.r.Revision(), r2.r.Revision())
	}
	for _, ri := range fleetView(t, h) {
		if !ri.ConfigCurrent {
			t.Fatalf("runner not current after a failed reload: %+v", ri)
		}
	}
}

// awaitFast polls cond every 100 µs (to time it) and returns when it held.
func awaitFast(t *testing.T, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return time.Now()
}
