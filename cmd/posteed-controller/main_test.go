package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// bin is the posteed-controller binary under test, built once.
var bin string

func TestMain(m *testing.M) {
	var dir string
	var err error
	if bin, dir, err = daemontest.Build("posteed-controller"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is one controller's files: controller.toml, cfg.yaml, the state
// directory and the file its exec action appends to.
type daemon struct {
	settings, cfg, out string
	addr               string // HTTP intake, "" when socket-activated
}

// newDaemon writes a controller.toml the way a package would ship it (the
// units start the daemon with --config=/etc/postee/controller.toml) and a
// cfg.yaml whose route "alpine" runs script and then appends
// "ROUTE EVENT_ID" to d.out.
func newDaemon(t *testing.T, script string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{settings: filepath.Join(dir, "controller.toml"), cfg: filepath.Join(dir, "cfg.yaml"),
		out: filepath.Join(dir, "exec.out"), addr: daemontest.FreeAddr(t)}
	writeFile(t, d.settings, fmt.Sprintf("cfgfile = %q\nurl = %q\nadmin = \"127.0.0.1:0\"\ntls = \"\"\nstate-dir = %q\nlog-level = \"info\"\n",
		d.cfg, d.addr, filepath.Join(dir, "state")))
	writeFile(t, d.cfg, cfgYAML(script, d.out, ""))
	return d
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cfgYAML is a Postee config whose routes run one exec action; extraRoutes
// is appended to the routes list.
func cfgYAML(script, out, extraRoutes string) string {
	return fmt.Sprintf(`name: daemontest
routes:
- name: alpine
  input: contains(input.image, "alpine")
  actions: [append]
  template: raw-json
%s
templates:
- name: raw-json
  rego-package: postee.rawmessage.json

actions:
- name: append
  type: exec
  enable: true
  exec-script: |
    #!/bin/sh
    %s
    echo "$POSTEE_ROUTE $POSTEE_EVENT_ID" >> %s
`, extraRoutes, script, out)
}

// command runs the binary as posteed-controller.service does, with extra
// flags and environment.
func (d *daemon) command(env []string, flags ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"--config=" + d.settings}, flags...)...)
	cmd.Env = daemontest.Env(env...)
	return cmd
}

func event(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
