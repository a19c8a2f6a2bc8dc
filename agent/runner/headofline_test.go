package runner

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// headCfg: routes whose actions run on r1. slow blocks until a gate file
// exists; fast runs at once; ordered serializes its actions, so its jobs
// run one after another in queue order.
func headCfg(t *testing.T, out, gate string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cfg.yaml")
	writeTestFile(t, p, fmt.Sprintf(`name: head-of-line
routes:
- name: slow
  input: input.kind == "slow"
  actions: [wait-gate]
  template: raw-json
- name: fast
  input: input.kind == "fast"
  actions: [note]
  template: raw-json
- name: ordered
  input: input.kind == "ordered"
  serialize-actions: true
  actions: [wait-first]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: wait-gate
  type: exec
  enable: true
  runs-on: r1
  timeout: 2m
  exec-script: |
    while [ ! -e %[2]q ]; do sleep 0.05; done
    echo "slow $POSTEE_EVENT_ID" >> %[1]q
- name: note
  type: exec
  enable: true
  runs-on: r1
  exec-script: echo "fast $POSTEE_EVENT_ID" >> %[1]q
- name: wait-first
  type: exec
  enable: true
  runs-on: r1
  timeout: 2m
  exec-script: |
    n=$(printf '%%s' "$POSTEE_EVENT" | tr -d '\n' | sed -n 's/.*"n": *\([0-9]*\).*/\1/p')
    if [ "$n" = 1 ]; then while [ ! -e %[2]q ]; do sleep 0.05; done; fi
    echo "ordered $n" >> %[1]q
`, out, gate))
	return p
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestJobsNoHeadOfLineBlocking: a job stuck in a slow script does not hold
// back an unrelated job queued after it (the fast one runs while the slow
// one waits), while a serialize-actions route's jobs still run in queue
// order. Ordering only: the slow script waits for a file the test creates
// after seeing the fast result, so no timing is assumed.
func TestJobsNoHeadOfLineBlocking(t *testing.T) {
	logs := fleettest.NewLogs(t)
	dir := t.TempDir()
	out, gate := filepath.Join(dir, "exec.out"), filepath.Join(dir, "gate")
	certs := fleettest.NewCerts(t, "r1")
	ctrl := fleettest.StartController(t, certs, headCfg(t, out, gate))
	rh := newRunner(t, certs, "r1", ctrl.Ctrl.NATSURL(), logs)
	rh.start()
	t.Cleanup(func() { writeTestFile(t, gate, "") }) // let blocked scripts end
	fleettest.Eventually(t, "runner config", func() bool { return rh.r.Revision() > 0 })

	post := func(ev string) {
		t.Helper()
		resp, err := http.Post("http://"+ctrl.Ctrl.HTTPAddr()+"/", "application/json", strings.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("post %s: %s", ev, resp.Status)
		}
	}
	post(`{"kind":"slow"}`)
	fleettest.Eventually(t, "the slow job started", func() bool { return rh.r.exec.Running() > 0 })
	post(`{"kind":"ordered","n":1}`)
	post(`{"kind":"ordered","n":2}`)
	post(`{"kind":"fast"}`)
	fleettest.Eventually(t, "the fast job's result while the slow one waits", func() bool {
		return len(fleettest.ReadLines(out)) > 0
	})
	if lines := fleettest.ReadLines(out); !strings.HasPrefix(lines[0], "fast ") {
		t.Fatalf("first result %q, want the fast job's", lines[0])
	}
	writeTestFile(t, gate, "")
	fleettest.Eventually(t, "every job", func() bool { return len(fleettest.ReadLines(out)) == 4 })
	var ordered []string
	for _, l := range fleettest.ReadLines(out) {
		if strings.HasPrefix(l, "ordered ") {
			ordered = append(ordered, l)
		}
	}
	if strings.Join(ordered, ",") != "ordered 1,ordered 2" {
		t.Fatalf("serialize-actions route ran %v, want ordered 1 then ordered 2", ordered)
	}
}
