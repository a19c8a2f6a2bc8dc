package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
)

// TestJournalStreamOfAnotherFile runs the controller with JOURNAL_STREAM
// naming a file that is not its stderr, as a child of a journald-logged
// process whose stderr was redirected: it must log plain text to stderr,
// not to the journal.
func TestJournalStreamOfAnotherFile(t *testing.T) {
	t.Parallel()
	other := filepath.Join(t.TempDir(), "journal-stream")
	writeFile(t, other, "")
	fi, err := os.Stat(other)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	d := newDaemon(t, "")
	ns := daemontest.NewNotifySocket(t)
	p := daemontest.Start(t, d.command([]string{ns.Env(), fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino)}))
	ns.Await(t, `^READY=1\n`, startTimeout)
	l := p.AwaitLog(t, "controller ready", time.Second)
	if !strings.HasPrefix(l, "time=") || daemontest.LogAttr(l, "level") != "INFO" || daemontest.LogAttr(l, "http") != d.addr {
		t.Errorf("want a slog text line on stderr, got %q", l)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
