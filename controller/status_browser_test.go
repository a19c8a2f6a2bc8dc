package controller_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

const chromium = "/usr/bin/chromium"

const statusCfg = `
routes:
- name: to-runner-1
  input: contains(input.SigMetadata.ID, "TRC-2")
  runs-on: "postee-runner-1"
  actions: [runner-exec]
  template: raw-json
- name: to-runner-2
  input: contains(input.SigMetadata.ID, "TRC-3")
  runs-on: "postee-runner-2"
  actions: [runner-exec]
  template: raw-json
- name: ticket
  input: input.ArtifactType == "container_image"
  actions: [broken-ticket]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: runner-exec
  type: exec
  enable: true
  exec-script: |
    echo "$POSTEE_ROUTE" >> %q
- name: broken-ticket
  type: exec
  enable: true
  exec-script: |
    echo "ticket system down" >&2
    exit 3
`

// TestStatusPageInChromium loads the status page in headless Chromium, with
// JavaScript off, for a controller with two runners and a failing action.
// CI installs Debian's chromium (scripts/lib/chromium.sh).
func TestStatusPageInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is absent (install Debian's chromium: scripts/lib/chromium.sh); the status page is not tested in a browser", chromium)
	}
	dir := t.TempDir()
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, fmt.Sprintf(statusCfg, filepath.Join(dir, "out"))))
	startRunner(t, h, "postee-runner-1", "node-1")
	startRunner(t, h, "postee-runner-2", "node-2")
	fleettest.Eventually(t, "both runners connected", func() bool {
		n := 0
		for _, ri := range fleetView(t, h) {
			if ri.Connected && ri.ConfigCurrent {
				n++
			}
		}
		return n == 2
	})
	h.Post("/", fleettest.Sample(t, "trivy-image-report.json"))
	h.Logs.Wait(t, "action failed", "action", "broken-ticket")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
		chromedp.Navigate("http://"+h.Ctrl.AdminAddr()+"/"))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("chromium, text of %s: %v", sel, err)
		}
		return v
	}
	runners, routes, failures, reload, config := text("#runners"), text("#routes"), text("#failures"), text("#reload"), text("#config")
	refresh, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`meta[http-equiv="refresh"]`), "content"))
	if err != nil {
		t.Fatalf("chromium, meta refresh: %v", err)
	}
	t.Logf("runners:\n%s\nroutes:\n%s\nfailures:\n%s", runners, routes, failures)
	rows := func(text string) []string { return strings.Split(strings.TrimSpace(text), "\n") }
	for _, want := range []string{"postee-runner-1\tnode-1\ttest\t1\t", "postee-runner-2\tnode-2\ttest\t1\t"} {
		found := false
		for _, r := range rows(runners) {
			found = found || (strings.HasPrefix(r, want) && strings.HasSuffix(r, "\t0\tyes"))
		}
		if !found {
			t.Errorf("runners table lacks a connected row %q…0 yes:\n%s", want, runners)
		}
	}
	if !contains(rows(routes), "ticket\t1\t0\t1\t") {
		t.Errorf("routes table lacks ticket: 1 match, 0 ok, 1 failed:\n%s", routes)
	}
	if !strings.Contains(failures, "ticket\tbroken-ticket\t") || !strings.Contains(failures, "exited with code 3") {
		t.Errorf("failures table lacks broken-ticket with its reason:\n%s", failures)
	}
	if reload != "last load ok" || !strings.Contains(config, "Config revision 1") {
		t.Errorf("config state %q / %q", reload, config)
	}
	if !refresh.Exists || refresh.Value != "10" {
		t.Errorf("meta refresh %+v, want 10", refresh)
	}
}

func contains(rows []string, prefix string) bool {
	for _, r := range rows {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}
