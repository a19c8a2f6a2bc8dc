package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// bin is the postee-runner binary under test, built once.
var bin string

func TestMain(m *testing.M) {
	var dir string
	var err error
	if bin, dir, err = daemontest.Build("postee-runner"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runnerDirs are one runner's settings file and directories.
type runnerDirs struct {
	settings, state, runtime string
}

// newRunner writes a runner.toml the way a package would ship it (the unit
// starts the runner with --config=/etc/postee/runner.toml) for a runner
// whose controller never answers.
func newRunner(t *testing.T) *runnerDirs {
	t.Helper()
	dir := t.TempDir()
	r := &runnerDirs{settings: filepath.Join(dir, "runner.toml"), state: filepath.Join(dir, "state"), runtime: filepath.Join(dir, "run")}
	if err := os.Mkdir(r.runtime, 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf(`runner-name = "x"
controller-url = "nats://127.0.0.1:1"
url = "127.0.0.1:0"
admin = "127.0.0.1:0"
tls = ""
state-dir = %q
runtime-dir = %q

[discovery]
tracee-files = []
`, r.state, r.runtime)
	if err := os.WriteFile(r.settings, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *runnerDirs) command(env ...string) *exec.Cmd {
	cmd := exec.Command(bin, "--config="+r.settings)
	cmd.Env = daemontest.Env(env...)
	return cmd
}
