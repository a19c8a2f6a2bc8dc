package controller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestAggregatedRoute: Postee's aggregate-message-number with the bundled
// Tracee template: two findings, one exec run with the aggregated message.
func TestAggregatedRoute(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(`
routes:
- name: tracee-digest
  input: startswith(input.SigMetadata.ID, "TRC-")
  actions: [record]
  template: tracee-slack
  plugins:
    aggregate-message-number: 2
templates:
- {name: tracee-slack, rego-package: postee.tracee.slack}
actions:
- name: record
  type: exec
  enable: true
  exec-script: echo "$POSTEE_TITLE" >> %s
`, out))
	ctx, cancel := context.WithCancel(context.Background())
	c, err := controller.New(ctx, controller.Options{Settings: controller.Settings{CfgFile: cfg, URL: "127.0.0.1:0", StateDir: t.TempDir(), BodyLimit: 1 << 20}, Notifier: fleettest.NopNotifier{}, Logger: fleettest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	<-c.Ready()
	lines := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")
	for _, l := range lines[:3] {
		fleettest.PostJSON(t, "http://"+c.HTTPAddr()+"/", l)
	}
	fleettest.Eventually(t, "one aggregated exec", func() bool { return len(fleettest.ReadLines(out)) == 1 })
	assertStable(t, func() bool { return len(fleettest.ReadLines(out)) == 1 })
	if got := fleettest.ReadLines(out)[0]; !strings.Contains(got, "(2)") {
		t.Fatalf("aggregated title %q", got)
	}
	cancel()
	<-done
	done <- nil
	// the third finding was held; stopping sends it rather than losing it
	if n := len(fleettest.ReadLines(out)); n != 2 {
		t.Fatalf("after stop: %d exec runs, want 2", n)
	}
}

// TestCompileNeverActs: check and the dry run compile with Compile; the
// messages they evaluate and hold for aggregation must not run actions
// when the engine closes.
func TestCompileNeverActs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(`
routes:
- name: held
  actions: [record]
  template: raw
  plugins: {aggregate-message-number: 5}
templates:
- {name: raw, rego-package: postee.rawmessage.json}
actions:
- {name: record, type: exec, enable: true, exec-script: "echo ran >> %s"}
`, out))
	eng, err := controller.Compile(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ev, _ := engine.ParseEvent([]byte(`{"a":1}`), "")
		if ms, err := eng.Evaluate(context.Background(), ev, ""); err != nil || len(ms) != 1 || !ms[0].Route.Aggregates() {
			t.Fatalf("%v %+v", err, ms)
		}
	}
	eng.Close()
	if lines := fleettest.ReadLines(out); len(lines) != 0 {
		t.Fatalf("a dry run ran an action: %v", lines)
	}
}
