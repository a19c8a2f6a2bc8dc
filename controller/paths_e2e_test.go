package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestNoFileLeavesTheConfigDirectory: a cfg.yaml edited to ship a
// shadow-like file through "../" and a CA-key-like file through a symlink
// to a runner is refused by check (Compile) and by a reload: the runner
// keeps its slice, which never holds either secret.
func TestNoFileLeavesTheConfigDirectory(t *testing.T) {
	root := t.TempDir()
	dir, etc := filepath.Join(root, "postee"), filepath.Join(root, "etc")
	secrets := map[string]string{
		filepath.Join(etc, "shadow"):        "root:$6$NOT-FOR-RUNNERS:19000:0:99999:7:::\n",
		filepath.Join(etc, "tls", "ca.key"): "-----BEGIN EC PRIVATE KEY-----\nNOT-FOR-RUNNERS\n",
	}
	for p, s := range secrets {
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	os.WriteFile(filepath.Join(dir, "scripts", "contain.sh"), []byte("#!/bin/sh\necho contained\n"), 0o755)
	if err := os.Symlink(filepath.Join(etc, "tls", "ca.key"), filepath.Join(dir, "scripts", "key.sh")); err != nil {
		t.Fatal(err)
	}
	cfg := func(script, body string) string {
		return `routes:
- name: r
  actions: [contain, post]
  template: t
templates:
- {name: t, rego-package: postee.rawmessage.json}
actions:
- name: contain
  type: exec
  enable: true
  runs-on: postee-runner-1
  input-file: ` + script + `
- name: post
  type: http
  enable: true
  runs-on: postee-runner-1
  url: http://127.0.0.1:9/
  body-file: ` + body + `
`
	}
	os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"ok":true}`), 0o644)
	file := fleettest.WriteCfg(t, dir, cfg("scripts/contain.sh", "body.json"))
	h := fleettest.StartController(t, fleettest.NewCerts(t, "postee-runner-1"), file)
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })

	fleettest.WriteCfg(t, dir, cfg("scripts/key.sh", "../etc/shadow"))
	_, err := controller.Compile(context.Background(), file, nil)
	for _, want := range []string{
		file + `:12: actions[0] "contain".input-file: "scripts/key.sh" leads through a symlink to ` + filepath.Join(etc, "tls", "ca.key"),
		file + `:18: actions[1] "post".body-file: "../etc/shadow" is outside the config directory`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v\nwant %s", err, want)
		}
	}

	h.Reload <- struct{}{}
	h.Logs.Wait(t, "reload failed, keeping the running config")
	if r1.r.Revision() != 1 {
		t.Fatalf("runner at revision %d after a refused reload", r1.r.Revision())
	}
	err = filepath.WalkDir(r1.state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), "NOT-FOR-RUNNERS") {
			t.Errorf("%s on the runner holds a secret from outside the config directory", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
