package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestStandaloneSampleEvents: the controller alone (no runners) takes each
// sample event over HTTP and its routes run exec and http actions.
func TestStandaloneSampleEvents(t *testing.T) {
	recv := fleettest.NewReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(`
routes:
- name: trivy
  input: input.ArtifactType == "container_image"
  actions: [record-exec, post-json]
  template: vuls-html
- name: image-scan
  input: input.vulnerability_summary.critical > 0
  actions: [record-exec, post-json]
  template: vuls-slack
- name: tracee-legacy
  input: startswith(input.SigMetadata.ID, "TRC-")
  actions: [record-exec, post-json]
  template: tracee-html
- name: tracee-current
  input: input.metadata.Properties.signatureID == "TRC-102"
  actions: [record-exec, post-json]
  template: tracee-slack
templates:
- {name: vuls-html, rego-package: postee.vuls.html}
- {name: vuls-slack, rego-package: postee.vuls.slack}
- {name: tracee-html, rego-package: postee.tracee.html}
- {name: tracee-slack, rego-package: postee.tracee.slack}
actions:
- name: record-exec
  type: exec
  enable: true
  exec-script: |
    echo "$POSTEE_ROUTE|$POSTEE_TITLE" >> %s
- name: post-json
  type: http
  enable: true
  url: %s/hook
  body-content: '{"route": "posteed", "image": "event.input.ArtifactName", "sig": "event.input.SigMetadata.ID", "host": "event.input.hostName"}'
`, out, recv.URL))
	ctx, cancel := context.WithCancel(context.Background())
	c, err := controller.New(ctx, controller.Options{Settings: controller.Settings{CfgFile: cfg, URL: "127.0.0.1:0", StateDir: t.TempDir(), BodyLimit: 1 << 20}, Notifier: fleettest.NopNotifier{}, Logger: fleettest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	<-c.Ready()
	base := "http://" + c.HTTPAddr()
	for _, f := range []string{"trivy-image-report.json", "image-scan.json", "tracee-finding-legacy.json", "tracee-finding.json"} {
		fleettest.PostJSON(t, base+"/", fleettest.Sample(t, f))
	}
	for _, l := range strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n") {
		fleettest.PostJSON(t, base+"/scan", l)
	}
	fleettest.Eventually(t, "8 exec lines and 8 http bodies", func() bool { return len(fleettest.ReadLines(out)) == 8 && len(recv.Got("/hook")) == 8 })
	got := strings.Join(fleettest.ReadLines(out), "\n")
	for _, want := range []string{
		"trivy|alpine:3.10 vulnerability scan report",
		"image-scan|alpine:3.10 vulnerability scan report",
		"tracee-legacy|Tracee detection TRC-2 Anti-Debugging on node-1",
		"tracee-current|Tracee detection TRC-102 Anti-Debugging detected on node-1",
		"tracee-legacy|Tracee detection TRC-5",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("exec output lacks %q:\n%s", want, got)
		}
	}
	bodies := strings.Join(recv.Got("/hook"), "\n")
	for _, want := range []string{`"image": "alpine:3.10"`, `"sig": "TRC-2"`, `"host": "node-1"`} {
		if !strings.Contains(bodies, want) {
			t.Errorf("http bodies lack %q:\n%s", want, bodies)
		}
	}
	// tenant endpoint: one route only; unknown route 404.
	fleettest.PostJSON(t, base+"/tenant/trivy", fleettest.Sample(t, "trivy-image-report.json"))
	resp, err := http.Post(base+"/tenant/nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown tenant: %d", resp.StatusCode)
	}
	fleettest.Eventually(t, "tenant event", func() bool { return len(fleettest.ReadLines(out)) == 9 })
	_ = os.Remove(out)
}
