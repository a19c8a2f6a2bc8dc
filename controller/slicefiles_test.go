package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
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
	cfg := fleettest.WriteCfg(t, dir, `
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
	h := fleettest.StartController(t, fleettest.NewCerts(t, "postee-runner-1"), cfg)
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() > 0 })
	// The runner runs its slice's copy: the controller's file is not needed any more.
	if err := os.Remove(filepath.Join(dir, "scripts", "contain.sh")); err != nil {
		t.Fatal(err)
	}
	id := h.Post("/", `{"x":1}`)["event_id"].(string)
	fleettest.Eventually(t, "script ran on the runner", func() bool { return len(fleettest.ReadLines(out)) == 1 })
	if got := fleettest.ReadLines(out)[0]; got != fmt.Sprintf("contained %s", id) {
		t.Fatalf("script output %q", got)
	}
}

// TestLibraryTemplateReachesTheRunner: a template in rego-templates/ that
// reads a package of another file there (no import, just data.mylib) gets
// that file into the runner's slice, and renders on the runner as it does
// on the controller.
func TestLibraryTemplateReachesTheRunner(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	os.MkdirAll(filepath.Join(dir, "rego-templates", "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "rego-templates", "custom.rego"), []byte("package custom.t\ntitle := data.mylib.hello\nresult := \"r\"\naggregation_pkg := \"custom.agg\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rego-templates", "lib", "mylib.rego"), []byte("package mylib\nhello := \"from the library\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rego-templates", "agg.rego"), []byte("package custom.agg\ntitle := \"n\"\nresult := \"r\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rego-templates", "unrelated.rego"), []byte("package other\nx := 1\n"), 0o644)
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(`
routes:
- name: r
  actions: [record]
  template: t
templates:
- {name: t, rego-package: custom.t}
actions:
- name: record
  type: exec
  enable: true
  runs-on: postee-runner-1
  exec-script: 'echo "$POSTEE_TITLE" >> %s'
`, out))
	h := fleettest.StartController(t, fleettest.NewCerts(t, "postee-runner-1"), cfg)
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() > 0 })
	files := r1.sliceFiles()
	for _, want := range []string{"rego-templates/custom.rego", "rego-templates/lib/mylib.rego", "rego-templates/agg.rego"} {
		if _, ok := files[want]; !ok {
			t.Errorf("slice lacks %s: %v", want, files)
		}
	}
	if _, ok := files["rego-templates/unrelated.rego"]; ok {
		t.Error("slice carries a file the template does not reach")
	}
	r1.Post("/", `{"x":1}`) // rendered on the runner, from its slice
	fleettest.Eventually(t, "the runner's action", func() bool { return len(fleettest.ReadLines(out)) == 1 })
	if got := fleettest.ReadLines(out)[0]; got != "from the library" {
		t.Fatalf("title rendered on the runner: %q", got)
	}
}

// sliceFiles are the files of the slice the runner cached.
func (rh *runnerHarness) sliceFiles() map[string]string {
	rh.t.Helper()
	b, err := os.ReadFile(filepath.Join(rh.state, "slice.json"))
	if err != nil {
		rh.t.Fatal(err)
	}
	var sl transport.Slice
	if err := json.Unmarshal(b, &sl); err != nil {
		rh.t.Fatal(err)
	}
	return sl.Files
}
