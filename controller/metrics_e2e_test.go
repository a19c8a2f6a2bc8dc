package controller_test

import (
	"context"
	"fmt"
	"github.com/postee-fleet/posteed/agent/metrics/metricstest"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

const metricsCfg = `
routes:
- name: trivy
  input: input.ArtifactType == "container_image"
  actions: [record-exec]
  template: vuls-html
- name: tracee
  input: input.metadata.Properties.signatureID == "TRC-102"
  actions: [broken-exec]
  template: tracee-slack
templates:
- {name: vuls-html, rego-package: postee.vuls.html}
- {name: tracee-slack, rego-package: postee.tracee.slack}
actions:
- name: record-exec
  type: exec
  enable: true
  exec-script: |
    echo "$POSTEE_ROUTE" >> %s
- name: broken-exec
  type: exec
  enable: true
  exec-script: |
    echo "ticket system down" >&2
    exit 3
`

// startStandalone runs a controller without runners, with an admin listener.
func startStandalone(t *testing.T, cfg string) *controller.Controller {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := controller.New(ctx, controller.Options{Settings: controller.Settings{CfgFile: cfg, URL: "127.0.0.1:0", Admin: "127.0.0.1:0", StateDir: t.TempDir(), BodyLimit: 1 << 20}, Notifier: fleettest.NopNotifier{}, Logger: fleettest.Logger(t), Version: "1.2.3-test"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	<-c.Ready()
	return c
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the text exposition format: %v", err)
	}
	return fams
}

// value is metricstest.Value: the sample of family name whose labels
// include want.
var value = metricstest.Value

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsMove: after the sample events, /metrics on the admin listener
// shows the counters moving; a failed reload shows too.
func TestMetricsMove(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(metricsCfg, out))
	c := startStandalone(t, cfg)
	before := scrape(t, c.AdminAddr())
	if v := value(before, "posteed_events_received_total", "source=webhook"); v > 0 {
		t.Fatalf("events counted before any was sent: %v", v)
	}
	base := "http://" + c.HTTPAddr()
	fleettest.PostJSON(t, base+"/", fleettest.Sample(t, "trivy-image-report.json"))
	fleettest.PostJSON(t, base+"/", fleettest.Sample(t, "trivy-image-report.json"))
	fleettest.PostJSON(t, base+"/", fleettest.Sample(t, "tracee-finding.json"))
	for _, bad := range []struct{ path, body string }{{"/", "not json"}, {"/tenant/nope", "{}"}} {
		resp, err := http.Post(base+bad.path, "application/json", strings.NewReader(bad.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var fams map[string]*dto.MetricFamily
	fleettest.Eventually(t, "action outcomes counted", func() bool {
		fams = scrape(t, c.AdminAddr())
		return value(fams, "posteed_action_runs_total", "action=record-exec", "outcome=ok") == 2 &&
			value(fams, "posteed_action_runs_total", "action=broken-exec", "outcome=failed") == 1
	})
	for _, w := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"posteed_events_received_total", []string{"source=webhook"}, 3},
		{"posteed_bad_input_total", []string{"reason=not_json"}, 1},
		{"posteed_bad_input_total", []string{"reason=unknown_route"}, 1},
		{"posteed_route_matches_total", []string{"route=trivy"}, 2},
		{"posteed_route_matches_total", []string{"route=tracee"}, 1},
		{"posteed_action_runs_total", []string{"action=record-exec", "type=exec", "outcome=ok"}, 2},
		{"posteed_action_duration_seconds", []string{"action=record-exec", "type=exec"}, 2},
		{"posteed_action_duration_seconds", []string{"action=broken-exec", "type=exec"}, 1},
		{"posteed_config_revision", nil, 1},
		{"posteed_config_last_reload_successful", nil, 1},
		{"posteed_build_info", []string{"program=posteed-controller", "version=1.2.3-test"}, 1},
	} {
		if got := value(fams, w.name, w.labels...); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if ts := value(fams, "posteed_config_last_reload_success_timestamp_seconds"); ts <= 0 {
		t.Errorf("reload timestamp %v", ts)
	}

	// A broken cfg.yaml: the reload fails, the gauge says so.
	if err := os.WriteFile(cfg, []byte("routes: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(context.Background()); err == nil {
		t.Fatal("reload of a broken cfg.yaml succeeded")
	}
	fams = scrape(t, c.AdminAddr())
	if v := value(fams, "posteed_config_last_reload_successful"); v != 0 {
		t.Errorf("after a failed reload posteed_config_last_reload_successful = %v, want 0", v)
	}
	if v := value(fams, "posteed_config_revision"); v != 1 {
		t.Errorf("after a failed reload posteed_config_revision = %v, want 1 (kept)", v)
	}
}

// TestAdminListener: probes on the admin port; the intake's /runners says
// where the fleet view went.
func TestAdminListener(t *testing.T) {
	dir := t.TempDir()
	c := startStandalone(t, fleettest.WriteCfg(t, dir, fmt.Sprintf(metricsCfg, filepath.Join(dir, "out"))))
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, "http://"+c.AdminAddr()+p); code != 200 {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	if code, body := httpGet(t, "http://"+c.AdminAddr()+"/runners"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("admin /runners: %d %q", code, body)
	}
	code, body := httpGet(t, "http://"+c.HTTPAddr()+"/runners")
	if code != http.StatusGone || !strings.Contains(body, "http://"+c.AdminAddr()+"/runners") {
		t.Errorf("intake /runners: %d %q; want 410 naming the admin address", code, body)
	}
	if code, _ := httpGet(t, "http://"+c.HTTPAddr()+"/metrics"); code == 200 {
		t.Error("the intake serves /metrics; it belongs on the admin listener")
	}
}
