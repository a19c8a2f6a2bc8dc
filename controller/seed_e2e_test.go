package controller_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// seedControllerRunner is seed controller-runner-mode.md's config with the
// webhook.site URLs pointed at a local receiver and the exec scripts writing
// to files the test reads.
func seedControllerRunner(recv, out string) string {
	return fmt.Sprintf(`name: Postee Controller Runner Demo

routes:
- name: controller-only-route
  input: contains(input.image, "alpine")
  actions: [my-http-post-from-controller]
  template: raw-json

- name: runner-only-route
  input: contains(input.SigMetadata.ID, "TRC-1")
  serialize-actions: true
  actions: [my-exec-from-runner, my-http-post-from-runner]
  template: raw-json

- name: controller-runner-route
  input: contains(input.SigMetadata.ID, "TRC-2")
  actions: [my-exec-from-runner, my-http-post-from-runner, my-http-post-from-controller]
  template: raw-json

templates:
- name: raw-json
  rego-package: postee.rawmessage.json

actions:
- name: stdout
  type: stdout
  enable: true

- name: my-http-post-from-controller
  type: http
  enable: true
  url: "%[1]s/controller"
  method: POST
  headers:
    "Foo": [ "bar" ]
  timeout: 10s
  body-content: |
    This is an example of a inline body
    Input Image: event.input.image

- name: my-exec-from-runner
  runs-on: "postee-runner-1"
  type: exec
  enable: true
  env: ["MY_ENV_VAR=foo_bar_baz", "MY_KEY=secret"]
  exec-script: |
    #!/bin/sh
    echo "$MY_ENV_VAR $POSTEE_EVENT_ID $POSTEE_ROUTE" >> %[2]s

- name: my-http-post-from-runner
  runs-on: "postee-runner-1"
  type: http
  enable: true
  url: "%[1]s/runner"
  method: POST
  body-content: |
    This is an another example of a inline body
    Event ID: event.input.SigMetadata.ID
`, recv, out)
}

// TestSeedControllerRunnerMode runs the seed with one controller and its
// embedded server, and with two controllers on a NATS cluster (events
// posted to both).
func TestSeedControllerRunnerMode(t *testing.T) { forEachTopology(t, testSeedControllerRunnerMode) }

func testSeedControllerRunnerMode(t *testing.T, top topology) {
	recv := fleettest.NewReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1")
	hs := top.start(t, c, fleettest.WriteCfg(t, dir, seedControllerRunner(recv.URL, out)))
	h, h2 := hs[0], hs[len(hs)-1]
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == h.Ctrl.Revision() })

	// The runner's slice holds only its routes and actions: no controller secret.
	eng := r1.r.Engine()
	if n := len(eng.Routes()); n != 2 {
		t.Fatalf("runner has %d routes, want 2", n)
	}
	if eng.Has("my-http-post-from-controller") || eng.Has("stdout") {
		t.Fatal("runner slice holds a controller action")
	}

	// controller-only-route: the image scan posted to the controller.
	h.Post("/", fleettest.Sample(t, "image-scan.json"))
	fleettest.Eventually(t, "controller http action", func() bool { return len(recv.Got("/controller")) == 1 })
	if body := recv.Got("/controller")[0]; !strings.Contains(body, "Input Image: alpine:3.10") {
		t.Fatalf("controller body %q", body)
	}

	// runner-only-route: TRC-1 posted to the runner runs there, serialized.
	lines := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")
	ans := r1.Post("/", lines[0])
	if fmt.Sprint(ans["routes"]) != "[runner-only-route]" {
		t.Fatalf("runner answered %v", ans)
	}
	fleettest.Eventually(t, "runner exec and http", func() bool { return len(fleettest.ReadLines(out)) == 1 && len(recv.Got("/runner")) == 1 })
	if got := fleettest.ReadLines(out)[0]; !strings.HasPrefix(got, "foo_bar_baz ") || !strings.HasSuffix(got, " runner-only-route") {
		t.Fatalf("exec output %q", got)
	}
	if body := recv.Got("/runner")[0]; !strings.Contains(body, "Event ID: TRC-1") {
		t.Fatalf("runner http body %q", body)
	}

	// controller-runner-route: TRC-2 at the runner; its two actions run
	// there, the controller's runs on the controller, once.
	r1.Post("/", fleettest.Sample(t, "tracee-finding-legacy.json"))
	fleettest.Eventually(t, "mixed route", func() bool {
		return len(fleettest.ReadLines(out)) == 2 && len(recv.Got("/runner")) == 2 && len(recv.Got("/controller")) == 2
	})

	// The same finding posted to the (other) controller: runner work dispatched.
	h2.Post("/", fleettest.Sample(t, "tracee-finding-legacy.json"))
	fleettest.Eventually(t, "dispatched work", func() bool {
		return len(fleettest.ReadLines(out)) == 3 && len(recv.Got("/runner")) == 3 && len(recv.Got("/controller")) == 3
	})
	assertStable(t, func() bool { return len(fleettest.ReadLines(out)) == 3 && len(recv.Got("/controller")) == 3 })
}

// assertStable checks cond still holds after the system had time to do
// something it should not (e.g. run an action twice).
func assertStable(t *testing.T, cond func() bool) {
	t.Helper()
	fleettest.Stays(t, "the state (no action run more often than expected)", cond)
}
