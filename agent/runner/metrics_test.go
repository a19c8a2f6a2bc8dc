package runner

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/metrics/metricstest"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// gathered is the value of the sample of family name in reg whose labels
// include want ("k=v" pairs; a histogram's is its count); -1 when there is
// none. Reading what the registry serves, not the vectors, creates no
// series.
func gathered(t *testing.T, reg metrics.Registry, name string, want ...string) float64 {
	t.Helper()
	fams, err := metricstest.Scrape(reg.Handler())
	if err != nil {
		t.Fatal(err)
	}
	return metricstest.Value(fams, name, want...)
}

// pluginsCfg places two routes on r1 with Postee's plugins: "once" sends a
// kind once an hour, "digest" holds five messages.
func pluginsCfg(t *testing.T, out string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cfg.yaml")
	fleettest.WriteFile(t, p, fmt.Sprintf(`routes:
- name: once
  input: input.kind == "once"
  actions: [runner-exec]
  template: raw-json
  plugins:
    unique-message-props: ["kind"]
    unique-message-timeout: 1h
- name: digest
  input: input.kind == "digest"
  actions: [runner-exec]
  template: raw-json
  plugins:
    aggregate-message-number: 5
templates:
- {name: raw-json, rego-package: postee.rawmessage.json}
actions:
- name: runner-exec
  runs-on: r1
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    echo "$POSTEE_EVENT_ID $POSTEE_ROUTE" >> %s
`, out))
	return p
}

// TestRunnerPluginMetrics: the runner's own plugins stage counts the
// duplicates it drops and shows the messages it holds, and its engine
// counts the actions it runs.
func TestRunnerPluginMetrics(t *testing.T) {
	logs := fleettest.NewLogs(t)
	out := filepath.Join(t.TempDir(), "exec.out")
	certs := fleettest.NewCerts(t, "r1")
	ctrl := fleettest.StartController(t, certs, pluginsCfg(t, out))
	rh := newRunner(t, certs, "r1", ctrl.Ctrl.NATSURL(), logs)
	rh.start()
	reg := rh.r.metrics.Registry
	fleettest.Eventually(t, "runner config", func() bool { return rh.r.Revision() > 0 })
	if v := gathered(t, reg, "posteed_aggregation_held", "route=digest"); v != 0 {
		t.Fatalf("posteed_aggregation_held{route=digest} before any event = %v, want 0", v)
	}
	for _, ev := range []string{`{"kind":"once","n":1}`, `{"kind":"once","n":2}`, `{"kind":"digest","n":1}`, `{"kind":"digest","n":2}`} {
		resp, err := http.Post(rh.r.Intake()[0]+"/", "application/json", strings.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	fleettest.Eventually(t, "the duplicate dropped and two messages held", func() bool {
		return gathered(t, reg, "posteed_dedup_dropped_total", "route=once") == 1 &&
			gathered(t, reg, "posteed_aggregation_held", "route=digest") == 2
	})
	fleettest.Eventually(t, "the first once run counted, with its duration", func() bool {
		return gathered(t, reg, "posteed_action_runs_total", "action=runner-exec", "type=exec", "outcome=ok") == 1 &&
			gathered(t, reg, "posteed_action_duration_seconds", "action=runner-exec", "type=exec") == 1
	})
	fleettest.Stays(t, "one run, two held", func() bool {
		return len(fleettest.ReadLines(out)) == 1 && gathered(t, reg, "posteed_aggregation_held", "route=digest") == 2
	})
}
