package controller_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// escapeCfg: events of kind "lt" go to the receiver from the controller
// (/controller) and from postee-runner-1 (/runner), each with the rendered
// event as its body; events of kind "quad" render a body four times the
// event, on postee-runner-1.
func escapeCfg(recv string) string {
	return `name: escaping
routes:
- name: lt
  input: input.kind == "lt"
  actions: [from-controller, from-runner]
  template: raw-json
- name: quad
  input: input.kind == "quad"
  actions: [from-runner]
  template: quad
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
- name: quad
  body: |
    package posteed.quad
    title := "four times"
    result := concat("", [json.marshal(input), json.marshal(input), json.marshal(input), json.marshal(input)])
actions:
- name: from-controller
  type: http
  enable: true
  url: "` + recv + `/controller"
  method: POST
- name: from-runner
  runs-on: postee-runner-1
  type: http
  enable: true
  url: "` + recv + `/runner"
  method: POST
`
}

// ltEvent is an event of kind whose text is n bytes of '<': encoded with
// json.Marshal's HTML escaping it grows six-fold.
func ltEvent(kind string, n int) string {
	return `{"kind":"` + kind + `","text":"` + strings.Repeat("<", n) + `"}`
}

func postStatus(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// arrivedWhole reports whether path received one body, the rendered
// event, whose text is the n '<' sent. (postee.rawmessage.json renders with
// Rego's json.marshal, which writes them as \u003c.)
func arrivedWhole(r *fleettest.Receiver, path string, n int) bool {
	got := r.Got(path)
	var ev struct{ Text string }
	return len(got) == 1 && json.Unmarshal([]byte(got[0]), &ev) == nil && len(ev.Text) == n && strings.Count(ev.Text, "<") == n
}

func escapeFleet(t *testing.T, controllerBodyLimit int64) (*fleettest.Controller, *runnerHarness, *fleettest.Receiver) {
	t.Helper()
	dir := t.TempDir()
	recv := fleettest.NewReceiver(t)
	h := fleettest.StartController(t, fleettest.NewCerts(t, "postee-runner-1"), fleettest.WriteCfg(t, dir, escapeCfg(recv.URL)),
		func(s *controller.Settings) { s.BodyLimit = controllerBodyLimit })
	rh := startRunner(t, h, "postee-runner-1", "node-1", func(s *runner.Settings) { s.BodyLimit = 10 << 20 })
	fleettest.Eventually(t, "the runner's config", func() bool { return rh.r.Revision() > 0 })
	return h, rh, recv
}

// TestEscapableEventPostedToRunnerArrives: a 6 MiB event of '<' posted to
// a runner used to be answered 200 and then dropped: its envelope, HTML
// escaped, was 36 MiB, past the controller's max payload (8 MiB here). It
// now reaches the controller whole and runs there. An event that can never
// fit (9 MiB) is answered 413 instead of a 200 for an event to be dropped.
func TestEscapableEventPostedToRunnerArrives(t *testing.T) {
	_, rh, recv := escapeFleet(t, 1<<20)
	url := rh.r.Intake()[0] + "/"
	const n = 6 << 20
	if code, body := postStatus(t, url, ltEvent("lt", n)); code != http.StatusOK {
		t.Fatalf("6 MiB event: %d %s", code, body)
	}
	fleettest.Eventually(t, "the event at the controller's action", func() bool { return arrivedWhole(recv, "/controller", n) })
	fleettest.Eventually(t, "the event at the runner's action", func() bool { return arrivedWhole(recv, "/runner", n) })

	code, body := postStatus(t, url, ltEvent("lt", 9<<20))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "can never be delivered") {
		t.Fatalf("9 MiB event to a controller taking 8 MiB: %d %s, want 413", code, body)
	}
	if n := rh.r.Healthy(); n != nil {
		t.Fatalf("runner unhealthy: %v", n)
	}
	if rh.Logs.Has("spooled event dropped") {
		t.Fatal("an event was spooled and then dropped")
	}
}

// TestEscapableEventRoutedToRunnerArrives: a 3 MiB event of '<' posted to
// the controller and routed to a runner used to get 503 "send the event
// again" forever (its job, HTML escaped, was past the max payload of
// 31 MiB), and its controller action never ran. Now both actions get it
// whole. A job that can never fit (a template four times the event) is
// 413, not a 503 that a producer would retry for ever.
func TestEscapableEventRoutedToRunnerArrives(t *testing.T) {
	h, _, recv := escapeFleet(t, 10<<20)
	url := "http://" + h.Ctrl.HTTPAddr() + "/"
	const n = 3 << 20
	if code, body := postStatus(t, url, ltEvent("lt", n)); code != http.StatusOK {
		t.Fatalf("3 MiB event: %d %s", code, body)
	}
	fleettest.Eventually(t, "the event at the runner's action", func() bool { return arrivedWhole(recv, "/runner", n) })
	fleettest.Eventually(t, "the event at the controller's action", func() bool { return arrivedWhole(recv, "/controller", n) })

	code, body := postStatus(t, url, ltEvent("quad", 8<<20))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "can never be delivered") || strings.Contains(body, "send the event again") {
		t.Fatalf("a job of some 40 MiB: %d %s, want 413", code, body)
	}
	if got := recv.Got("/runner"); len(got) != 1 {
		t.Fatalf("the runner's action ran %d times, want once (the refused event must not run)", len(got))
	}
}
