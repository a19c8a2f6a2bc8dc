package controller_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/controller"
)

// startWatching is startController with watch-config = true.
func startWatching(t *testing.T, cfgFile string) *harness {
	t.Helper()
	logs := newLogRecorder()
	h := &harness{t: t, certs: newCerts(t), cfgFile: cfgFile, stateDir: t.TempDir(), reload: make(chan struct{}, 1),
		log: slog.New(logs.tee(testLogger(t).Handler())), logs: logs, natsListen: "127.0.0.1:-1",
		tune: func(s *controller.Settings) { s.WatchConfig = true }}
	h.start()
	t.Cleanup(h.shutdown)
	return h
}

// TestConfigFileChangeReloads: with watch-config, writing cfg.yaml is a
// reload, as SIGHUP is; a broken file keeps the running config.
func TestConfigFileChangeReloads(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCfg(t, dir, "routes:\n- {name: a, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	h := startWatching(t, cfg)
	if len(h.ctrl.Engine().Routes()) != 1 {
		t.Fatal("routes")
	}
	tmp := cfg + ".new"
	os.WriteFile(tmp, []byte("routes:\n- {name: a, template: t}\n- {name: b, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n"), 0o644)
	if err := os.Rename(tmp, cfg); err != nil { // as editors do
		t.Fatal(err)
	}
	eventually(t, "reload after the file changed", func() bool { return len(h.ctrl.Engine().Routes()) == 2 })
	os.WriteFile(cfg, []byte("routes:\n- {name: a, templte: t}\n"), 0o644)
	assertStable(t, func() bool { return len(h.ctrl.Engine().Routes()) == 2 })
	ans := h.post("/", `{"x":1}`)
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
	cfg := writeCfg(t, dir, "routes:\n- {name: a, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	h := startController(t, newCerts(t), cfg, t.TempDir())
	rev := h.ctrl.Revision()
	writeCfg(t, dir, "routes:\n- {name: a, template: t}\n- {name: b, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	assertStable(t, func() bool { return len(h.ctrl.Engine().Routes()) == 1 })
	h.reload <- struct{}{}
	eventually(t, "reload on SIGHUP", func() bool { return len(h.ctrl.Engine().Routes()) == 2 })
	// The new engine runs before its revision is published: wait for that.
	eventually(t, "revision published", func() bool { return h.ctrl.Revision() == rev+1 })
	assertStable(t, func() bool { return h.ctrl.Revision() == rev+1 })
	if h.logs.has("cfg.yaml changed") {
		t.Error("the file was watched without watch-config")
	}
}
