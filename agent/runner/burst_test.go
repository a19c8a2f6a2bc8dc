package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestBurstRunsAtMostTheLimitOfScripts: a burst of 5,000 Tracee findings
// whose own exec action records how many scripts run at once never has
// more than max-concurrent-actions scripts running, and every finding's
// script runs once.
func TestBurstRunsAtMostTheLimitOfScripts(t *testing.T) {
	const total, limit = 5000, 4
	dir := t.TempDir()
	running, out := filepath.Join(dir, "running"), filepath.Join(dir, "out")
	if err := os.Mkdir(running, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each script registers itself in running/, counts who is there, and
	// leaves: the count is a lower bound of the scripts running then.
	script := fmt.Sprintf(`touch %[1]s/$$; n=$(ls %[1]s | wc -l); sleep 0.002; rm -f %[1]s/$$; echo "$POSTEE_EVENT_ID $n" >> %[2]s`, running, out)
	sl := &transport.Slice{Runner: "burst", Revision: 1, Config: fmt.Sprintf(`routes:
- name: contain
  template: raw
  actions: [script]
templates:
- {name: raw, rego-package: postee.rawmessage.json}
actions:
- name: script
  type: exec
  enable: true
  runs-on: burst
  exec-script: %q
`, script)}
	sl.Digest = transport.SliceDigest(sl)
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sl)
	fleettest.WriteFile(t, filepath.Join(state, "slice.json"), string(raw))
	file := filepath.Join(dir, "tracee.json")
	fleettest.WriteFile(t, file, "")
	ctx, cancel := context.WithCancel(context.Background())
	r, err := New(ctx, Options{Logger: slog.New(slog.DiscardHandler), Notifier: fleettest.NopNotifier{}, Settings: Settings{
		Name: "burst", ControllerURL: "nats://" + fleettest.FreeAddr(t), StateDir: state, RuntimeDir: filepath.Join(dir, "run"),
		ConfigFile: filepath.Join(dir, "runner.toml"), TraceeFiles: []string{file}, MaxConcurrentActions: limit,
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()
	<-r.Ready()
	<-r.files.follower.Ready()
	var b strings.Builder
	for i := range total {
		fmt.Fprintf(&b, `{"seq":%d,"eventName":"anti_debugging","hostName":"node-1"}`+"\n", i)
	}
	fleettest.AppendFile(t, file, b.String())

	deadline := time.Now().Add(3 * time.Minute) // 5,000 scripts, 4 at a time, on a busy machine
	for len(fleettest.ReadLines(out)) < total && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	fleettest.Stays(t, "no script runs twice", func() bool { return len(fleettest.ReadLines(out)) <= total })
	seen := map[string]bool{}
	peak := 0
	lines := fleettest.ReadLines(out)
	for _, l := range lines {
		id, n, _ := strings.Cut(l, " ")
		seen[id] = true
		if k, _ := strconv.Atoi(n); k > peak {
			peak = k
		}
	}
	if len(lines) != total || len(seen) != total {
		t.Fatalf("%d script runs for %d distinct findings, want %d each", len(lines), len(seen), total)
	}
	if peak > limit || peak < 2 {
		t.Fatalf("up to %d scripts seen running at once, limit %d", peak, limit)
	}
	t.Logf("%d findings, up to %d scripts at once (limit %d)", total, peak, limit)
}
