package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/config"
)

// benchConfig has 10 routes over the sample events: Trivy, image scans and
// both Tracee shapes, with the bundled templates.
const benchConfig = `
routes:
- {name: trivy-alpine, input: 'contains(input.ArtifactName, "alpine")', template: vuls-html}
- {name: scan-critical, input: 'input.vulnerability_summary.critical > 0', template: vuls-slack}
- {name: trivy-jira, input: 'input.ArtifactType == "container_image"', template: trivy-jira}
- {name: tracee-legacy, input: 'startswith(input.SigMetadata.ID, "TRC-")', template: tracee-slack}
- {name: tracee-current, input: 'startswith(input.metadata.Properties.signatureID, "TRC-")', template: tracee-html}
- {name: everything, template: raw-json}
- {name: nginx, input: 'input.image == "nginx"', template: vuls-html}
- {name: high-severity, input: 'input.SigMetadata.Properties.Severity > 3', template: tracee-slack}
- name: two-lines
  input: |
    input.registry == "Docker Hub"
    input.image_assurance_results.disallowed
  template: raw-html
- {name: node-2, input: 'input.hostName == "node-2"', template: tracee-html}
templates:
- {name: vuls-html, rego-package: postee.vuls.html}
- {name: vuls-slack, rego-package: postee.vuls.slack}
- {name: trivy-jira, rego-package: postee.trivy.jira}
- {name: tracee-slack, rego-package: postee.tracee.slack}
- {name: tracee-html, rego-package: postee.tracee.html}
- {name: raw-json, rego-package: postee.rawmessage.json}
- {name: raw-html, rego-package: postee.rawmessage.html}
`

func sampleEvents(tb testing.TB) [][]byte {
	dir := filepath.Join("..", "..", "testdata", "events")
	var out [][]byte
	for _, f := range []string{"trivy-image-report.json", "image-scan.json", "tracee-finding.json", "tracee-finding-legacy.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tracee-findings.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	out = append(out, bytes.Split(bytes.TrimSpace(b), []byte("\n"))...)
	return out
}

// seedStyleConfig is the shape of the seeds' configs: 10 routes, every one
// rendering postee.rawmessage.json.
const seedStyleConfig = `
routes:
- {name: alpine, input: 'contains(input.image, "alpine")', template: raw-json}
- {name: trivy, input: 'contains(input.ArtifactName, "alpine")', template: raw-json}
- {name: trc-1, input: 'contains(input.SigMetadata.ID, "TRC-1")', template: raw-json}
- {name: trc-2, input: 'contains(input.SigMetadata.ID, "TRC-2")', template: raw-json}
- {name: trc-3, input: 'contains(input.SigMetadata.ID, "TRC-3")', template: raw-json}
- {name: trc-102, input: 'input.metadata.Properties.signatureID == "TRC-102"', template: raw-json}
- {name: critical, input: 'input.vulnerability_summary.critical > 0', template: raw-json}
- {name: node-2, input: 'input.hostName == "node-2"', template: raw-json}
- {name: severe, input: 'input.SigMetadata.Properties.Severity > 3', template: raw-json}
- {name: nginx, input: 'input.image == "nginx"', template: raw-json}
templates:
- {name: raw-json, rego-package: postee.rawmessage.json}
`

func benchEngine(tb testing.TB) *Engine { return benchEngineWith(tb, benchConfig) }

func benchEngineWith(tb testing.TB, yaml string) *Engine {
	cfg, err := config.Parse(filepath.Join(tb.TempDir(), "cfg.yaml"), []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	e, err := New(context.Background(), cfg, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// TestBenchConfigRendersEverySample keeps the benchmark honest: every event
// matches the routes it should and renders.
func TestBenchConfigRendersEverySample(t *testing.T) {
	e := benchEngine(t)
	want := []string{
		"trivy-alpine,trivy-jira,everything",
		"scan-critical,everything,two-lines",
		"tracee-current,everything",
		"tracee-legacy,everything",
	}
	for i, raw := range sampleEvents(t) {
		ev, err := ParseEvent(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := e.Evaluate(context.Background(), ev, "")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range ms {
			if m.Msg.Title == "" || m.Msg.Body == "" {
				t.Errorf("event %d route %s rendered empty", i, m.Route.Name)
			}
			names = append(names, m.Route.Name)
		}
		if i < len(want) && strings.Join(names, ",") != want[i] {
			t.Errorf("event %d matched %v, want %s", i, names, want[i])
		}
	}
}

// BenchmarkEngine: parse, match 10 routes and render every match, for the
// sample events in turn, on all cores.
func BenchmarkEngine(b *testing.B) { benchmarkEngine(b, benchEngine(b)) }

// BenchmarkEngineSeedStyle: the same with the seeds' template choice.
func BenchmarkEngineSeedStyle(b *testing.B) { benchmarkEngine(b, benchEngineWith(b, seedStyleConfig)) }

func benchmarkEngine(b *testing.B, e *Engine) {
	events := sampleEvents(b)
	ctx := context.Background()
	// posteed-controller runs with GOGC=400 (agent/daemon.TuneGC).
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ev, err := ParseEvent(events[i%len(events)], "")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Evaluate(ctx, ev, ""); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// CPU time per event, which a loaded machine does not inflate the way
	// it does wall time: events/s on 2 idle cores ≈ 2e6 / cpu-µs/event.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSeedStyleBenchMatches: the sample events match routes of the
// seed-style benchmark and render (all but the TRC-5 finding, which no
// route names), so that benchmark does real work.
func TestSeedStyleBenchMatches(t *testing.T) {
	e := benchEngineWith(t, seedStyleConfig)
	events, unmatched := sampleEvents(t), 0
	for i, raw := range events {
		ev, err := ParseEvent(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := e.Evaluate(context.Background(), ev, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Msg.Body == "" {
				t.Fatalf("event %d route %s rendered nothing", i, m.Route.Name)
			}
		}
		if len(ms) == 0 {
			unmatched++
		}
	}
	if unmatched > 1 {
		t.Fatalf("%d of %d sample events match no route", unmatched, len(events))
	}
}
