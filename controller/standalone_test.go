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
)

// TestStandaloneSampleEvents: the controller alone (no runners) takes each
// sample event over HTTP and its routes run exec and http actions.
func TestStandaloneSampleEvents(t *testing.T) {
	recv := newReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	cfg := writeCfg(t, dir, fmt.Sprintf(`
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
	c, err := controller.New(ctx, controller.Options{Settings: controller.Settings{CfgFile: cfg, URL: "127.0.0.1:0", StateDir: t.TempDir(), BodyLimit: 1 << 20}, Notifier: nopNotifier{}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	<-c.Ready()
	base := "http://" + c.HTTPAddr()
	for _, f := range []string{"trivy-image-report.json", "image-scan.json", "tracee-finding-legacy.json", "tracee-finding.json"} {
		postJSON(t, base+"/", sample(t, f))
	}
	for _, l := range strings.Split(strings.TrimSpace(sample(t, "tracee-findings.jsonl")), "\n") {
		postJSON(t, base+"/scan", l)
	}
	eventually(t, "8 exec lines and 8 http bodies", func() bool { return len(readLines(out)) == 8 && len(recv.got("/hook")) == 8 })
	got := strings.Join(readLines(out), "\n")
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
	bodies := strings.Join(recv.got("/hook"), "\n")
	for _, want := range []string{`"image": "alpine:3.10"`, `"sig": "TRC-2"`, `"host": "node-1"`} {
		if !strings.Contains(bodies, want) {
			t.Errorf("http bodies lack %q:\n%s", want, bodies)
		}
	}
	// tenant endpoint: one route only; unknown route 404.
	postJSON(t, base+"/tenant/trivy", sample(t, "trivy-image-report.json"))
	resp, err := http.Post(base+"/tenant/nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown tenant: %d", resp.StatusCode)
	}
	eventually(t, "tenant event", func() bool { return len(readLines(out)) == 9 })
	_ = os.Remove(out)
}
