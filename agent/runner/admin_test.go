package runner

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestAdminListener: the runner's admin listener serves the probes and
// /metrics with its build info, config revision and spool depth.
func TestAdminListener(t *testing.T) {
	x := newTracee1(t, func(s *Settings) { s.Admin = "127.0.0.1:0" })
	addr := x.runner.r.AdminAddr()
	if addr == "" {
		t.Fatal("no admin address")
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != 200 {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	resp, err := http.Post(x.runner.r.Intake()[0]+"/", "application/json", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f, err := os.OpenFile(x.file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(seqLines(traceeLines(t), 0, 1, false)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fleettest.Eventually(t, "the Tracee line counted", func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `posteed_events_received_total{source="tracefile"} 1`) && strings.Contains(body, fmt.Sprintf("\nposteed_tracee_lines_total{file=%q} 1\n", x.file))
	})
	code, body := get("/metrics")
	for _, want := range []string{
		`posteed_build_info{commit=`, `program="postee-runner"`, `version="test"`,
		"\nposteed_config_revision 1\n", "\nposteed_spool_pending_events ", "\nposteed_controller_connected 1\n",
		`posteed_bad_input_total{reason="not_json"} 1`, `posteed_events_received_total{source="webhook"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics: %d, lacks %q", code, want)
		}
	}
}
