package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestRunnersReadsSettings: `runners --config` finds the admin listener
// where controller.toml puts it.
func TestRunnersReadsSettings(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, "")
	admin := daemontest.FreeAddr(t)
	b, err := os.ReadFile(d.settings)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.settings, strings.Replace(string(b), `admin = "127.0.0.1:0"`, fmt.Sprintf("admin = %q", admin), 1))
	ns := daemontest.NewNotifySocket(t)
	daemontest.Start(t, d.command([]string{ns.Env()}))
	ns.Await(t, `^READY=1\n`, startTimeout)

	stdout, stderr, code := runCLI(t, "runners", "--config", d.settings)
	if code != 0 || !strings.HasPrefix(stdout, "NAME") {
		t.Fatalf("runners --config: exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, "runners", "--config", d.settings, "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" { // standalone: no fleet
		t.Errorf("runners --json: exit %d, %q", code, stdout)
	}
	// Another admin address in the file: asked there, not at the default.
	other := d.settings + ".other"
	writeFile(t, other, fmt.Sprintf("admin = %q\n", daemontest.FreeAddr(t)))
	if _, stderr, code := runCLI(t, "runners", "--config", other); code != 1 || !strings.Contains(stderr, "ask the controller") {
		t.Errorf("nothing listening: exit %d, %q", code, stderr)
	}
}
