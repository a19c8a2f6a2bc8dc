package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestShippedSettings starts the runner as the unit does on a fresh
// install: the packaged runner.toml and no TLS files, so that every
// LoadCredential= falls back to its blank SetCredential=. The flags give
// what the operator fills in and what the unit's directories provide.
func TestShippedSettings(t *testing.T) {
	t.Parallel()
	shipped := filepath.Join("..", "..", "etc", "postee", "runner.toml")
	if _, err := os.Stat(shipped); err != nil {
		t.Skipf("no packaged runner.toml yet: %v", err)
	}
	creds, dir := t.TempDir(), t.TempDir()
	for _, name := range []string{"runner.crt", "runner.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(creds, name), []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--config="+shipped, "--runner-name", "x", "--controller-url", "nats://127.0.0.1:1",
		"--url", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--tls", "", "--state-dir", filepath.Join(dir, "state"), "--runtime-dir", dir)
	cmd.Env = daemontest.Env("CREDENTIALS_DIRECTORY=" + creds)
	p := daemontest.Start(t, cmd)
	// Logged once the settings are loaded and the runner dials its controller.
	p.AwaitLog(t, "controller unreachable", 10*time.Second)
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.Stderr())
	}
}
