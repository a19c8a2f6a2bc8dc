package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestMemoryLimitFromSettings: memory-limit in runner.toml is the runtime's
// soft limit.
func TestMemoryLimitFromSettings(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	appendSettings(t, r.settings, "memory-limit = \"300MiB\"\n")
	p := daemontest.Start(t, r.command())
	l := p.AwaitLog(t, "memory limit", 10*time.Second)
	if daemontest.LogAttr(l, "limit") != "300MiB" || daemontest.LogAttr(l, "source") != "memory-limit" {
		t.Errorf("logged %q, want limit 300MiB from memory-limit", l)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
}
