package controller_test

import (
	"os"
	"strings"
	"testing"
)

// TestConfigFileChangeReloads: writing cfg.yaml is a reload, as SIGHUP is;
// a broken file keeps the running config.
func TestConfigFileChangeReloads(t *testing.T) {
	dir := t.TempDir()
	cfg := writeCfg(t, dir, "routes:\n- {name: a, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n")
	c := newCerts(t)
	h := startController(t, c, cfg, t.TempDir())
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
