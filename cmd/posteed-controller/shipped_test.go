package main

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestShippedSettings starts the controller as the unit does on a fresh
// install: the packaged controller.toml, and no TLS files, so that every
// LoadCredential= falls back to its blank SetCredential=. Only the
// addresses and directories the unit's sockets and StateDirectory= provide
// are given as flags.
func TestShippedSettings(t *testing.T) {
	t.Parallel()
	shipped := filepath.Join("..", "..", "etc", "postee", "controller.toml")
	if _, err := os.Stat(shipped); err != nil {
		t.Skipf("no packaged controller.toml yet: %v", err)
	}
	creds := t.TempDir()
	for _, name := range []string{"controller.crt", "controller.key", "ca.crt"} {
		writeFile(t, filepath.Join(creds, name), "\n")
	}
	addr, natsAddr := daemontest.FreeAddr(t), daemontest.FreeAddr(t)
	ns := daemontest.NewNotifySocket(t)
	cmd := (&daemon{settings: shipped}).command([]string{ns.Env(), "CREDENTIALS_DIRECTORY=" + creds},
		"--cfgfile", filepath.Join("..", "..", "testdata", "configs", "seed-controller-runner-mode.yaml"),
		"--url", addr, "--admin", "127.0.0.1:0", "--tls", "", "--state-dir", filepath.Join(t.TempDir(), "state"), "--controller-url", "nats://"+natsAddr)
	p := daemontest.Start(t, cmd)
	ready, _ := ns.Await(t, `^READY=1\n`, startTimeout)
	wantStatus(t, ready, "3 routes, cfg rev 1")
	for _, a := range []string{addr, natsAddr} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("READY=1 but %s does not accept: %v", a, err)
		}
		c.Close()
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.Stderr())
	}
}
