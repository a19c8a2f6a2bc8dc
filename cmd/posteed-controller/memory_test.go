package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestMemoryLimit: the controller applies memory-limit, and GOMEMLIMIT in
// the environment wins over it.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		env                 []string
		wantLimit, wantFrom string
	}{
		{"setting", nil, "300MiB", "memory-limit"},
		{"environment wins", []string{"GOMEMLIMIT=200MiB"}, "200MiB", "GOMEMLIMIT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := daemontest.Start(t, newDaemon(t, "").command(tc.env, "--memory-limit", "300MiB"))
			l := p.AwaitLog(t, "memory limit", startTimeout)
			if daemontest.LogAttr(l, "limit") != tc.wantLimit || daemontest.LogAttr(l, "source") != tc.wantFrom {
				t.Errorf("logged %q, want limit %s from %s", l, tc.wantLimit, tc.wantFrom)
			}
			p.Signal(t, syscall.SIGTERM)
			if code := p.Wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit code %d", code)
			}
		})
	}
}
