package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// benchSlice is a cached config with two routes of the runner's own whose
// filters run on every line and match none of the benchmark's lines, so the
// figure is the intake's: follower, parse, route evaluation, spool append.
func benchSlice(t testing.TB, name, url string) *transport.Slice {
	sl := &transport.Slice{Runner: name, Revision: 1, Config: fmt.Sprintf(`routes:
- name: high-severity
  input: input.metadata.Properties.Severity >= 4
  actions: [local-post]
  template: raw-json
- name: legacy-trc9
  input: contains(input.SigMetadata.ID, "TRC-9")
  actions: [local-post]
  template: raw-json
templates:
- name: raw-json
  rego-package: postee.rawmessage.json
actions:
- name: local-post
  runs-on: %s
  type: http
  enable: true
  url: %s
  method: POST
`, name, url)}
	sl.Digest = transport.SliceDigest(sl)
	return sl
}

// startBenchRunner starts a runner from a cached slice, its controller
// unreachable: events stop at the spool, as they would during an outage.
func startBenchRunner(b *testing.B, file string) (*Runner, func()) {
	b.Helper()
	sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	dir := b.TempDir()
	state := filepath.Join(dir, "state")
	raw, _ := json.Marshal(benchSlice(b, "bench", sink.URL))
	if err := os.MkdirAll(state, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "slice.json"), raw, 0o600); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := New(ctx, Options{Logger: slog.New(slog.DiscardHandler), Notifier: fleettest.NopNotifier{}, Settings: Settings{
		Name: "bench", ControllerURL: "nats://" + fleettest.FreeAddr(b), URL: "127.0.0.1:0", StateDir: state,
		RuntimeDir: filepath.Join(dir, "run"), ConfigFile: filepath.Join(dir, "runner.toml"), TraceeFiles: []string{file},
	}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil) }()
	<-r.Ready()
	<-r.files.follower.Ready()
	return r, func() { cancel(); <-done; sink.Close() }
}

// BenchmarkTraceeIngest writes b.N Tracee lines (both shapes) to a followed
// file and waits until the runner has spooled them all.
func BenchmarkTraceeIngest(b *testing.B) {
	samples := traceeLines(b)
	file := filepath.Join(b.TempDir(), "tracee.json")
	fleettest.WriteFile(b, file, "")
	r, stop := startBenchRunner(b, file)
	defer stop()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for from := 0; from < b.N; from += 1000 {
		fleettest.AppendFile(b, file, seqLines(samples, from, min(from+1000, b.N), false))
	}
	for r.files.follower.Stats().Lines < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	ingested := time.Since(start)
	for r.local.evaluated.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// Ingested: read and spooled for the controller. Evaluated: the
	// runner's own routes also ran on every line.
	b.ReportMetric(float64(b.N)/ingested.Seconds(), "ingested-lines/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "evaluated-lines/s")
	// The machine may be shared: CPU time per line says what one core
	// sustains whatever else runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/line")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "alloc-B/line")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(procStatusKB("VmHWM"))/1024, "VmHWM-MiB")
	if int(r.up.Pending()) != b.N {
		b.Fatalf("%d spooled, want %d", r.up.Pending(), b.N)
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatusKB reads a "kB" field of /proc/self/status (0 if missing).
func procStatusKB(field string) int {
	status, _ := procfs.Status(0)
	n, _ := procfs.KiB(status[field])
	return int(n)
}
