package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/internal/fleettest"
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
	fleettest.Eventually(t, "the event posted to the announced address", func() bool { return x.recv.exactlyOnce(0, 1) })
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
	logs, recv := fleettest.NewLogs(t), newSeqReceiver(t)
	certs := fleettest.NewCerts(t, "r1")
	natsAddr := fleettest.FreeAddr(t)
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
	if n := rh.r.up.Pending(); n != total {
		t.Fatalf("%d events spooled, want %d", n, total)
	}
	if n := recv.distinct(); n != 0 {
		t.Fatalf("%d events delivered with no controller", n)
	}

	fleettest.StartController(t, certs, testCfg(t, recv.URL, filepath.Join(t.TempDir(), "exec.out")), fleettest.ListenNATS(natsAddr))
	fleettest.Eventually(t, "the spooled events at the controller", func() bool { return recv.distinct() == total })
	fleettest.Eventually(t, "spool drained", func() bool { return rh.r.up.Pending() == 0 })
	fleettest.Stays(t, "each event once", func() bool { return recv.exactlyOnce(0, total) })
	<-rh.r.Ready() // the controller's config arrived
}

// TestTakeSpoolsOneLine: an event posted pretty-printed is one spool entry;
// without a config its envelope says revision 0, and keeps the route posted.
func TestTakeSpoolsOneLine(t *testing.T) {
	dir := t.TempDir()
	r, err := New(t.Context(), Options{Settings: Settings{Name: "r1", ControllerURL: "nats://127.0.0.1:1", StateDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.journal.Close()
	id, _, err := r.in.Accept(t.Context(), []byte("{\n  \"a\": [1,\n 2, \"<&>\"]\n}\n"), "team-a")
	if err != nil {
		t.Fatal(err)
	}
	lines := fleettest.ReadLines(filepath.Join(dir, "spool", "spool.log"))
	if len(lines) != 1 || !strings.Contains(lines[0], `"event":{"a":[1,2,"<&>"]}`) || !strings.Contains(lines[0], `"event_id":"`+id+`"`) {
		t.Fatalf("spool holds %q", lines)
	}
	var env transport.Envelope
	if err := json.Unmarshal([]byte(lines[0]), &env); err != nil || env.Route != "team-a" || env.Revision != 0 {
		t.Fatalf("envelope %s: route %q revision %d (%v)", lines[0], env.Route, env.Revision, err)
	}
}

// TestLineEnvelope: the hand-built envelope of a Tracee line is the JSON of
// a transport.Envelope, with the revision and no route.
func TestLineEnvelope(t *testing.T) {
	tests := []struct {
		name      string
		machineID string
		rev       int64
	}{
		{"no config", "m-1", 0},
		{"config", "m-1", 42},
		{"no machine id", "", 7},
	}
	raw := `{"seq":1,"s":"a\"b","n":[1,2]}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendEnvelope(envelopeHead("r1", "node-1", tt.machineID), "id-1", "", tt.rev, []byte(raw))
			if split, err := splitEnvelope(b); err != nil || string(split.Event) != raw || split.EventID != "id-1" || split.Revision != tt.rev {
				t.Fatalf("split %s: %+v %v", b, split, err)
			}
			var env transport.Envelope
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&env); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if env.Runner != "r1" || env.Host != "node-1" || env.MachineID != tt.machineID || env.EventID != "id-1" ||
				env.Revision != tt.rev || env.Route != "" || string(env.Event) != raw || env.Received.IsZero() {
				t.Fatalf("envelope %s decodes to %+v", b, env)
			}
		})
	}
}

// spooledEnvelope finds the envelope of event id in the runner's spool.
func spooledEnvelope(t *testing.T, rh *runnerHarness, id string) (transport.Envelope, bool) {
	t.Helper()
	for _, l := range fleettest.ReadLines(filepath.Join(rh.opts.Settings.StateDir, "spool", "spool.log")) {
		var env transport.Envelope
		if err := json.Unmarshal([]byte(l), &env); err != nil {
			t.Fatalf("spool entry %s: %v", l, err)
		}
		if env.EventID == id {
			return env, true
		}
	}
	return transport.Envelope{}, false
}

// TestEnvelopeRouteAndRevision: events are spooled with the revision they
// were evaluated at and the tenant route they were posted to, also a route
// this runner's slice lacks (the controller may have it).
func TestEnvelopeRouteAndRevision(t *testing.T) {
	x := newTracee1(t)
	rev := x.runner.r.Revision()
	url := x.runner.r.Intake()[0]
	tests := []struct{ name, path, route string }{
		{"every route", "/", ""},
		{"a route of this runner", "/tenant/local", "local"},
		{"a route only the controller has", "/tenant/fleet", "fleet"},
		{"a route nobody has", "/tenant/nowhere", "nowhere"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(url+tt.path, "application/json", strings.NewReader(fmt.Sprintf(`{"seq":%d,"local":true}`, i)))
			if err != nil {
				t.Fatal(err)
			}
			var ans struct {
				EventID string `json:"event_id"`
			}
			err = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil || ans.EventID == "" {
				t.Fatalf("POST %s: %s (%v)", tt.path, resp.Status, err)
			}
			env, ok := spooledEnvelope(t, x.runner, ans.EventID)
			if !ok {
				t.Fatalf("event %s not spooled", ans.EventID)
			}
			if env.Route != tt.route || env.Revision != rev {
				t.Fatalf("spooled with route %q revision %d, want %q and %d", env.Route, env.Revision, tt.route, rev)
			}
		})
	}

	fleettest.AppendFile(t, x.file, seqLines(traceeLines(t), 10, 11, false))
	fleettest.Eventually(t, "the line spooled", func() bool {
		for _, l := range fleettest.ReadLines(filepath.Join(x.runner.opts.Settings.StateDir, "spool", "spool.log")) {
			if strings.Contains(l, `"seq":10`) {
				var env transport.Envelope
				if err := json.Unmarshal([]byte(l), &env); err != nil || env.Revision != rev || env.Route != "" {
					t.Fatalf("line envelope %s: revision %d route %q (%v)", l, env.Revision, env.Route, err)
				}
				return true
			}
		}
		return false
	})
}

// TestOversizedEventRefused: an event the controller's server can never
// carry (over its max payload) is answered 413 by the runner instead of a
// 200 for an event it would drop from its spool later (issue 13, item 4);
// the events behind it reach the controller. (The spool still drops an
// entry that turns out unsendable, e.g. one taken before the runner ever
// reached its controller: spool_test.go.)
func TestOversizedEventRefused(t *testing.T) {
	x := newTracee1(t, func(s *Settings) { s.BodyLimit = 32 << 20 })
	url := x.runner.r.Intake()[0] + "/"
	big := `{"seq":0,"pad":"` + strings.Repeat("x", 9<<20) + `"}` // over the controller's 8 MiB
	for i, tc := range []struct {
		ev   string
		want int
	}{{big, http.StatusRequestEntityTooLarge}, {`{"seq":1}`, http.StatusOK}} {
		resp, err := http.Post(url, "application/json", strings.NewReader(tc.ev))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("event %d: %s %s, want %d", i, resp.Status, b, tc.want)
		}
	}
	fleettest.Eventually(t, "the event behind the oversized one at the controller", func() bool { return x.recv.distinct() == 1 })
	if !x.recv.exactlyOnce(1, 2) {
		t.Fatalf("controller got %s", x.recv.diagnose(1, 2))
	}
	if n := x.runner.r.up.Dropped(); n != 0 || x.logs.Contains("spooled event dropped") {
		t.Fatalf("%d dropped from the spool, want none", n)
	}
}

// TestHealthz: the runner's /healthz answers 503 once its spool holds more
// than the stall threshold, and 200 again when it drains below.
func TestHealthz(t *testing.T) {
	x := newTracee1(t)
	r := x.runner.r
	url := r.Intake()[0]
	healthz := func() (int, string) {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := healthz(); code != http.StatusOK {
		t.Fatalf("healthy runner: %d %s", code, body)
	}
	x.ctrl.Shutdown() // nothing leaves the spool now
	for i := range 3 {
		resp, err := http.Post(url+"/", "application/json", strings.NewReader(fmt.Sprintf(`{"seq":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	r.stallAt.Store(2)
	if code, body := healthz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "3 events spooled") {
		t.Fatalf("stalled runner: %d %s", code, body)
	}
	r.stallAt.Store(3)
	if code, body := healthz(); code != http.StatusOK {
		t.Fatalf("runner under the threshold: %d %s", code, body)
	}
}
