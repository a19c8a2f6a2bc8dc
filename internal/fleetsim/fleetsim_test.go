package fleetsim

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// controllerBinary builds posteed-controller once per test binary.
func controllerBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "posteed-controller")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/postee-fleet/posteed/cmd/posteed-controller").CombinedOutput()
	if err != nil {
		t.Fatalf("go build posteed-controller: %v\n%s", err, out)
	}
	return bin
}

// A small fleet end to end: every runner connects, applies its slice and
// takes work; every event reaches its runner; a reload reaches them all.
func TestSmallFleet(t *testing.T) {
	bin := controllerBinary(t)
	topologies := []string{"embedded", "cluster"}
	if testing.Short() {
		topologies = topologies[:1]
	}
	for _, top := range topologies {
		t.Run(top, func(t *testing.T) {
			o := Options{Topology: top, N: 20, ControllerBin: bin, Dir: t.TempDir(), ConnectRate: 500,
				Baseline: 200 * time.Millisecond, Settle: 100 * time.Millisecond, Idle: time.Second,
				Events: 20, EventRate: 100, Reloads: 1, Heartbeat: 500 * time.Millisecond, ReadyTimeout: time.Minute}
			if top == "cluster" {
				o.NATSServerBin = natsdtest.ServerBinary(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + res.Details())
			if res.Aborted != "" || res.Connect.NotReady != "" {
				t.Fatalf("aborted %q, not ready %q", res.Aborted, res.Connect.NotReady)
			}
			if d := res.Dispatch; d.Posted != 20 || d.Missing != 0 || d.WrongRunner != 0 || d.P50 <= 0 {
				t.Fatalf("dispatch %+v", d)
			}
			if len(res.Reloads) != 1 || res.Reloads[0].Reached != 20 || res.Reloads[0].AllRunners <= 0 || res.Reloads[0].Reloaded < 0 {
				t.Fatalf("reload %+v", res.Reloads)
			}
			if res.Idle.HeartbeatsPerSec < 20 { // 20 runners, every 0.5 s
				t.Fatalf("%.1f heartbeats/s", res.Idle.HeartbeatsPerSec)
			}
			if p := res.controllers()[0]; p.IdleRSSMiB <= 0 || p.FDs <= 0 {
				t.Fatalf("controller figures %+v", p)
			}
			row := res.Row()
			if strings.Count(row, "|") != strings.Count(strings.Split(TableHeader, "\n")[0], "|") {
				t.Fatalf("row %q does not fit the header", row)
			}
		})
	}
}

func TestParseSlog(t *testing.T) {
	level, msg, attrs := parseSlog(`time=2026-01-02T03:04:05.678Z level=INFO msg="config revision applied by every connected runner" config_revision=3 runners=20`)
	if level != "INFO" || msg != "config revision applied by every connected runner" || attrs["config_revision"] != "3" || attrs["runners"] != "20" {
		t.Fatalf("%q %q %v", level, msg, attrs)
	}
	if live, goal, ok := parseGCTrace("gc 12 @3.456s 1%: 0.018+1.2+0.005 ms clock, 0.037+0.5/1.1/0+0.011 ms cpu, 40->41->20 MB, 42 MB goal, 0 MB stacks, 0 MB globals, 2 P"); !ok || live != 20 || goal != 42 {
		t.Fatalf("gctrace: %d %d %v", live, goal, ok)
	}
	if l, m := natsLevel(`[123] 2026/01/02 03:04:05.678 [WRN] 127.0.0.1:4567 - cid:89 - Readloop processing time: 2.1s`); l != "WARN" || m != "#.#.#.#:# - cid:# - Readloop processing time: #.#s" {
		t.Fatalf("%q %q", l, m)
	}
	if l, m := natsLevel(`nats: slow consumer, messages dropped on connection [7] for subscription on "posteed.hb.*"`); l != "ERROR" || m != `nats client: slow consumer, messages dropped on connection [#] for subscription on "posteed.hb.*"` {
		t.Fatalf("%q %q", l, m)
	}
}
