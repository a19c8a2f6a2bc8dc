package controller_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// startWatching is fleettest.StartController with watch-config = true, and
// a change read at once: the tests write each file in one go.
func startWatching(t *testing.T, cfgFile string) *fleettest.Controller {
	t.Helper()
	h := fleettest.NewController(t, fleettest.NewCerts(t), cfgFile, func(s *controller.Settings) { s.WatchConfig = true })
	h.Timings.Settle = 10 * time.Millisecond
	h.Start()
	return h
}

// TestConfigFileChangeReloads: with watch-config, writing cfg.yaml is a
// reload, as SIGHUP is; a broken file keeps the running config.
func TestConfigFileChangeReloads(t *testing.T) {
	dir := t.TempDir()
	cfg := fleettest.WriteCfg(t, dir, "routes:\n- {name: a, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	h := startWatching(t, cfg)
	if len(h.Ctrl.Engine().Routes()) != 1 {
		t.Fatal("routes")
	}
	tmp := cfg + ".new"
	os.WriteFile(tmp, []byte("routes:\n- {name: a, template: t}\n- {name: b, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n"), 0o644)
	if err := os.Rename(tmp, cfg); err != nil { // as editors do
		t.Fatal(err)
	}
	fleettest.Eventually(t, "reload after the file changed", func() bool { return len(h.Ctrl.Engine().Routes()) == 2 })
	os.WriteFile(cfg, []byte("routes:\n- {name: a, templte: t}\n"), 0o644)
	h.Logs.Wait(t, "reload failed, keeping the running config")
	if n := len(h.Ctrl.Engine().Routes()); n != 2 {
		t.Fatalf("%d routes after a broken cfg.yaml, want the 2 kept", n)
	}
	ans := h.Post("/", `{"x":1}`)
	if !strings.Contains(strings.Join(toStrings(ans["routes"]), ","), "b") {
		t.Fatalf("old config not kept: %v", ans)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestConfigFileChangeWaitsForReload: without watch-config a saved cfg.yaml
// changes nothing until a reload (SIGHUP, systemctl reload), which then
// makes exactly one new revision.
func TestConfigFileChangeWaitsForReload(t *testing.T) {
	dir := t.TempDir()
	cfg := fleettest.WriteCfg(t, dir, "routes:\n- {name: a, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	h := fleettest.StartController(t, fleettest.NewCerts(t), cfg)
	rev := h.Ctrl.Revision()
	fleettest.WriteCfg(t, dir, "routes:\n- {name: a, template: t}\n- {name: b, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	assertStable(t, func() bool { return len(h.Ctrl.Engine().Routes()) == 1 })
	h.Reload <- struct{}{}
	fleettest.Eventually(t, "reload on SIGHUP", func() bool { return len(h.Ctrl.Engine().Routes()) == 2 })
	// The new engine runs before its revision is published: wait for that.
	fleettest.Eventually(t, "revision published", func() bool { return h.Ctrl.Revision() == rev+1 })
	assertStable(t, func() bool { return h.Ctrl.Revision() == rev+1 })
	if h.Logs.Has("cfg.yaml changed") {
		t.Error("the file was watched without watch-config")
	}
}
