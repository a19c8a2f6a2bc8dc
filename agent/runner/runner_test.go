package runner

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestAnnounce: runner.json tells local producers who and where the runner
// is, readable by all even under the unit's UMask=0077, and goes away on a
// clean stop.
func TestAnnounce(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	x := newTracee1(t)
	s, r := x.runner.opts.Settings, x.runner.r
	path := filepath.Join(s.RuntimeDir, "runner.json")

	for p, want := range map[string]os.FileMode{path: 0o644, s.RuntimeDir: 0o755 | os.ModeDir} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, st.Mode(), want)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name, Host, Version, Controller string
		MachineID                       string `json:"machine_id"`
		Intake                          []string
		PID                             int
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("runner.json: %v\n%s", err, b)
	}
	if got.Name != "r1" || got.Host != "node-1" || got.MachineID != "m-r1" || got.Version != "test" ||
		got.Controller != s.ControllerURL || got.PID != os.Getpid() || !slices.Equal(got.Intake, r.Intake()) || len(got.Intake) != 1 {
		t.Fatalf("runner.json: %s", b)
	}
	// The announced address takes events.
	resp, err := http.Post(got.Intake[0]+"/", "application/json", strings.NewReader(seqLines(traceeLines(t), 0, 1, false)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, "the event posted to the announced address", func() bool { return x.recv.exactlyOnce(0, 1) })
	if entries, _ := os.ReadDir(s.RuntimeDir); len(entries) != 1 {
		t.Errorf("runtime directory holds %d entries, want runner.json only (no temporary file left)", len(entries))
	}

	x.runner.shutdown()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("runner.json after a clean stop: %v", err)
	}
}

// TestWebhookSpooledWhileControllerDown: events the runner accepts before
// its controller ever started are kept on disk and reach the controller
// once each when it comes up.
func TestWebhookSpooledWhileControllerDown(t *testing.T) {
	const total = 20
	logs, recv := &logSink{}, newSeqReceiver(t)
	certs := testCerts(t, "r1")
	natsAddr := freeAddr(t)
	intake, err := net.Listen("tcp", "127.0.0.1:0") // as systemd would pass it
	if err != nil {
		t.Fatal(err)
	}
	rh := newRunner(t, certs, "r1", "tls://"+natsAddr, logs)
	rh.opts.Listeners = map[string][]net.Listener{"http": {intake}}
	rh.run()

	url := "http://" + intake.Addr().String() + "/"
	for i, line := range strings.Split(strings.TrimSpace(seqLines(traceeLines(t), 0, total, false)), "\n") {
		resp, err := http.Post(url, "application/json", strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "event_id") {
			t.Fatalf("event %d: %s %s", i, resp.Status, body)
		}
	}
	if n := rh.r.spool.Pending(); n != total {
		t.Fatalf("%d events spooled, want %d", n, total)
	}
	if n := recv.distinct(); n != 0 {
		t.Fatalf("%d events delivered with no controller", n)
	}

	startController(t, certs, testCfg(t, recv.URL, filepath.Join(t.TempDir(), "exec.out")), natsAddr, logs)
	eventually(t, "the spooled events at the controller", func() bool { return recv.distinct() == total })
	eventually(t, "spool drained", func() bool { return rh.r.spool.Pending() == 0 })
	stays(t, "each event once", func() bool { return recv.exactlyOnce(0, total) })
	<-rh.r.Ready() // the controller's config arrived
}

// TestTakeSpoolsOneLine: an event posted pretty-printed is one spool entry.
func TestTakeSpoolsOneLine(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir)
	defer s.Close()
	r := &Runner{opts: Options{Settings: Settings{Name: "r1"}}, spool: s}
	if _, _, err := r.take(t.Context(), []byte("{\n  \"a\": [1,\n 2]\n}\n"), "", "id-1"); err != nil {
		t.Fatal(err)
	}
	r.inflight.Wait()
	lines := readLines(filepath.Join(dir, "spool.log"))
	if len(lines) != 1 || !strings.Contains(lines[0], `"event":{"a":[1,2]}`) || !strings.Contains(lines[0], `"event_id":"id-1"`) {
		t.Fatalf("spool holds %q", lines)
	}
}

// TestOversizedEventDropped: an event the runner took but the controller's
// server can never carry (over its max payload) is dropped from the spool,
// and the events behind it still reach the controller.
func TestOversizedEventDropped(t *testing.T) {
	x := newTracee1(t, func(s *Settings) { s.BodyLimit = 32 << 20 })
	url := x.runner.r.Intake()[0] + "/"
	big := `{"seq":0,"pad":"` + strings.Repeat("x", 9<<20) + `"}` // over the controller's 8 MiB
	for i, ev := range []string{big, `{"seq":1}`} {
		resp, err := http.Post(url, "application/json", strings.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("event %d: %s", i, resp.Status)
		}
	}
	eventually(t, "the event behind the oversized one at the controller", func() bool { return x.recv.distinct() == 1 })
	if !x.recv.exactlyOnce(1, 2) {
		t.Fatalf("controller got %s", x.recv.diagnose(1, 2))
	}
	if n := x.runner.r.spool.Dropped(); n != 1 {
		t.Fatalf("%d dropped, want 1", n)
	}
	if !x.logs.has("level=ERROR", "spooled event dropped", "maximum payload") {
		t.Fatal("the drop was not logged")
	}
}
