package controller_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/postee-fleet/posteed/controller"
)

// TestRunnerScriptTravelsInSlice: an exec action placed on a runner whose
// input-file is relative to cfg.yaml runs on the runner from its slice; an
// absolute input-file names a file on the runner's host and is not required
// on the controller's.
func TestRunnerScriptTravelsInSlice(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	os.WriteFile(filepath.Join(dir, "scripts", "contain.sh"), []byte("#!/bin/sh\necho \"contained $POSTEE_EVENT_ID\" >> "+out+"\n"), 0o755)
	cfg := writeCfg(t, dir, `
routes:
- name: r
  actions: [contain]
  template: t
templates:
- {name: t, rego-package: postee.rawmessage.json}
actions:
- name: contain
  type: exec
  enable: true
  runs-on: postee-runner-1
  input-file: scripts/contain.sh
- name: on-runner-host
  type: exec
  enable: true
  runs-on: postee-runner-1
  input-file: /opt/does-not-exist-on-the-controller/contain.sh
`)
	if _, err := controller.Compile(context.Background(), cfg, nil); err != nil {
		t.Fatalf("check refuses a runner's absolute script path: %v", err)
	}
	h := startController(t, newCerts(t, "postee-runner-1"), cfg, t.TempDir())
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	eventually(t, "runner config", func() bool { return r1.r.Revision() > 0 })
	// The runner runs its slice's copy: the controller's file is not needed any more.
	if err := os.Remove(filepath.Join(dir, "scripts", "contain.sh")); err != nil {
		t.Fatal(err)
	}
	id := h.post("/", `{"x":1}`)["event_id"].(string)
	eventually(t, "script ran on the runner", func() bool { return len(readLines(out)) == 1 })
	if got := readLines(out)[0]; got != fmt.Sprintf("contained %s", id) {
		t.Fatalf("script output %q", got)
	}
}
