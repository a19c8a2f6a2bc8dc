package controller

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a notifier that keeps what was sent.
type recorder struct{ ready, status []string }

func (r *recorder) Ready(s string) error  { r.ready = append(r.ready, s); return nil }
func (r *recorder) Reloading() error      { return nil }
func (r *recorder) Status(s string) error { r.status = append(r.status, s); return nil }
func (r *recorder) Stopping() error       { return nil }

// TestStatusKeepsReloadFailure: after a failed reload every STATUS line
// (the one sent with READY=1 and the periodic ones, which are status())
// says so, until a config loads again.
func TestStatusKeepsReloadFailure(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := "routes:\n- {name: a, template: t}\ntemplates:\n- {name: t, rego-package: postee.rawmessage.json}\n"
	write(good)
	n := &recorder{}
	c, err := New(context.Background(), Options{Settings: Settings{CfgFile: cfg, StateDir: dir}, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Engine().Close()
	if s := c.status(); s != "1 routes, cfg rev 1" {
		t.Fatalf("status %q", s)
	}
	write("routes:\n- {name: a, templte: t}\n")
	if err := c.Reload(context.Background()); err == nil {
		t.Fatal("broken config loaded")
	}
	const failed = `reload failed, kept config rev 1: ` // then the first problem
	for _, s := range []string{n.ready[len(n.ready)-1], c.status(), c.status()} {
		if !strings.HasPrefix(s, failed) || !strings.Contains(s, "templte: unknown key") || !strings.HasSuffix(s, "; 1 routes, cfg rev 1") {
			t.Errorf("status after a failed reload: %q", s)
		}
	}
	write(good)
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := c.status(); s != "1 routes, cfg rev 2" || n.ready[len(n.ready)-1] != s {
		t.Errorf("status after a good reload: %q (READY with %q)", s, n.ready[len(n.ready)-1])
	}
}
