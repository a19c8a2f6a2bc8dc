package metrics_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/metrics/lite"
	"github.com/postee-fleet/posteed/agent/metrics/metricstest"
	"github.com/postee-fleet/posteed/agent/metrics/prom"
)

// monitoringDir holds the Grafana dashboard and alert rules the packages
// ship (/usr/share/doc/<package>/monitoring/).
const monitoringDir = "../../packaging/monitoring"

// pending are metrics the dashboard and rules already use but the daemons
// do not export yet. Once a daemon exports one, TestShippedMonitoring says
// to remove it from here.
var pending = []string{}

// exported lists the metric names both daemons register, every vector
// touched once so that it shows.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	held := func() map[string]int { return map[string]int{"route": 1} }
	c := prom.NewController("test", metrics.ControllerState{
		Fleet: func() []metrics.FleetRunner { return []metrics.FleetRunner{{Name: "r1", Connected: true}} },
		Held:  held,
		NATS: func() (metrics.NATSState, bool) {
			return metrics.NATSState{Connected: true, Streams: []metrics.StreamState{{Name: "POSTEED_WORK", Messages: 1, Bytes: 100}}}, true
		},
	})
	c.EventsReceived.WithLabelValues(metrics.SourceWebhook).Inc()
	c.BadInput.WithLabelValues("not_json").Inc()
	c.RouteMatches.WithLabelValues("route").Inc()
	c.WorkDispatched.WithLabelValues("r1").Inc()
	c.ActionDone("a", "exec", metrics.OutcomeOK, time.Second)
	c.Deduplicated("route")
	zero := func() int64 { return 0 }
	r := metrics.NewRunner(lite.NewRegistry(), "test", metrics.RunnerState{SpoolPending: zero, SpoolDropped: zero, ConfigRevision: zero, Connected: func() bool { return true }, Held: held})
	r.EventsReceived.WithLabelValues(metrics.SourceWebhook).Inc()
	r.BadInput.WithLabelValues("not_json").Inc()
	r.TraceeFile("/var/log/tracee/events.json")
	r.WorkRedelivered.WithLabelValues("r1").Inc()
	r.ActionDone("a", "exec", metrics.OutcomeOK, time.Second)
	r.Deduplicated("route")
	out := map[string]bool{}
	for _, h := range []http.Handler{c.Handler(), r.Handler()} {
		mfs, err := metricstest.Scrape(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			out[mf.GetName()] = true
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					out[mf.GetName()+s] = true
				}
			}
		}
	}
	return out
}

// dashboardQueries returns every PromQL expression of the dashboard, by
// panel title.
func dashboardQueries(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "posteed-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], tg.Expr)
		}
	}
	return out
}

var metricName = regexp.MustCompile(`\b(posteed_[a-z_]+|process_[a-z_]+|up)\b`)

// TestShippedMonitoring: the dashboard and the alert rules use only metrics
// the daemons export (or the few still pending), and every exported
// posteed_ metric is on the dashboard.
func TestShippedMonitoring(t *testing.T) {
	have := exported(t)
	for _, p := range pending {
		if have[p] {
			t.Errorf("%s is exported now: remove it from pending", p)
		}
		have[p] = true
	}
	have["up"] = true // Prometheus's own
	rules, err := os.ReadFile(filepath.Join(monitoringDir, "posteed-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	check := func(where, text string) {
		for _, name := range metricName.FindAllString(text, -1) {
			used[name] = true
			if !have[name] {
				t.Errorf("%s uses %s, which no daemon exports", where, name)
			}
		}
	}
	for _, l := range strings.Split(string(rules), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		check("posteed-alerts.yml", l)
	}
	for title, exprs := range dashboardQueries(t) {
		for _, e := range exprs {
			check(fmt.Sprintf("dashboard panel %q", title), e)
		}
	}
	for name := range have {
		if strings.HasPrefix(name, "posteed_") && !used[name] && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") &&
			name != "posteed_action_duration_seconds" && name != "posteed_config_last_reload_success_timestamp_seconds" && name != "posteed_build_info" {
			t.Errorf("%s is exported but neither on the dashboard nor in an alert", name)
		}
	}
}

// TestDashboardQueriesParse hands every dashboard query, with Grafana's
// variables filled in, to promtool as a recording rule: a query Prometheus
// cannot parse fails here rather than as an empty panel. It needs promtool
// (scripts/check-monitoring finds it and runs this test).
func TestDashboardQueriesParse(t *testing.T) {
	promtool := os.Getenv("POSTEED_PROMTOOL")
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Skip("promtool not found: scripts/check-monitoring provides it")
		}
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$controller", "ctl:8083", "$runner", ".+")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	queries := dashboardQueries(t)
	n := 0
	for _, title := range slices.Sorted(maps.Keys(queries)) {
		for _, e := range queries[title] {
			n++
			q, _ := json.Marshal(vars.Replace(e)) // a JSON string is a YAML string
			fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", n, q)
		}
	}
	if n < 20 {
		t.Fatalf("only %d dashboard queries found", n)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool rejects a dashboard query: %v\n%s", err, out)
	}
}
