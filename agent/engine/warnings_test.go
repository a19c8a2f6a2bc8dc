package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	_ "github.com/postee-fleet/posteed/agent/action/jira"
	_ "github.com/postee-fleet/posteed/agent/action/kubernetes"
	_ "github.com/postee-fleet/posteed/agent/action/pagerduty"
)

// TestActionWarnings: what the real action types accept from Postee
// without acting on it is a warning of the controller's load (and check),
// with its line: jira's board and sprint, pagerduty's REST API token, and
// a kubernetes action placed on a runner with no kubeconfig, which works
// only on a runner in a Kubernetes pod. A kubernetes action no route uses
// or with a kubeconfig warns of nothing.
func TestActionWarnings(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir, `routes:
- name: r
  actions: [ticket, page, label-pod, label-pod-kubeconfig]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
actions:
- name: ticket
  type: jira
  enable: true
  url: https://jira.example
  user: me
  password: pw
  project-key: SEC
  board: SEC board
  sprint: current
- name: page
  type: pagerduty
  enable: true
  pagerduty-auth-token: rest-token
  pagerduty-routing-key: k
- name: label-pod
  type: kubernetes
  enable: true
  runs-on: node-1
  kube-namespace: default
- name: label-pod-kubeconfig
  type: kubernetes
  enable: true
  runs-on: node-1
  kube-namespace: default
  kube-config-file: /etc/postee/kube/config
- name: unused-label-pod
  type: kubernetes
  enable: true
  runs-on: node-1
  kube-namespace: default
`, nil)
	e, err := New(context.Background(), cfg, Options{Registry: action.Default})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	file := filepath.Join(dir, "cfg.yaml")
	want := []string{
		file + `:16: actions[0] "ticket".board: accepted for Postee compatibility, not used: Postee's jira put issues into the board's active sprint`,
		file + `:17: actions[0] "ticket".sprint: accepted for Postee compatibility, not used: Postee's jira put issues into the board's active sprint`,
		file + `:21: actions[1] "page".pagerduty-auth-token: accepted for Postee compatibility, not used: Postee's pagerduty required`,
		file + `:23: actions[2] "label-pod": kube-config-file is required unless the runner runs in a Kubernetes pod`,
	}
	got := e.Warnings()
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%v\nwant %d", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].Error(), w) {
			t.Errorf("warning %d:\n%s\nwant prefix\n%s", i, got[i], w)
		}
	}
}
