package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestStopFinishesWorkInFlight stops the controller while five slow exec
// actions run: every one must finish before the process exits, well within
// the unit's TimeoutStopSec=30s.
func TestStopFinishesWorkInFlight(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "sleep 1")
	ns := daemontest.NewNotifySocket(t)
	p := daemontest.Start(t, d.command([]string{ns.Env()}))
	ns.Await(t, `^READY=1\n`, startTimeout)

	var ids []string
	for i := range 5 {
		a := daemontest.Post(t, d.addr, fmt.Appendf(nil, `{"image":"alpine:3.%d"}`, i))
		ids = append(ids, "alpine "+a.EventID)
	}
	p.Signal(t, syscall.SIGTERM)
	start := time.Now()
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, p.Stderr())
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(d.out)
	if err != nil {
		t.Fatalf("no exec action finished: %v", err)
	}
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("after stop the actions wrote\n%q\nwant\n%q", got, ids)
	}
}
