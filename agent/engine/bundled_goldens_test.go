package engine

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/template/bundled"
)

var update = flag.Bool("update", false, "rewrite testdata/bundled-goldens from the current templates")

// TestBundledGoldens renders every bundled template on every sample event
// (and each aggregation package on two of them) and compares with
// testdata/bundled-goldens; after a deliberate change to a template, run
// `go test ./agent/engine -run TestBundledGoldens -update` and review the
// diff. The goldens are also what a native renderer of a bundled package
// must produce.
func TestBundledGoldens(t *testing.T) {
	pkgs := []string{"postee.rawmessage.json", "postee.rawmessage.html", "postee.vuls.html", "postee.vuls.slack", "postee.trivy.jira", "postee.tracee.html", "postee.tracee.slack"}
	aggregated := map[string][2]string{ // template → the two samples aggregated
		"postee.vuls.html":    {"image-scan.json", "trivy-image-report.json"},
		"postee.vuls.slack":   {"image-scan.json", "trivy-image-report.json"},
		"postee.trivy.jira":   {"trivy-image-report.json", "image-scan.json"},
		"postee.tracee.html":  {"tracee-finding.json", "tracee-finding-legacy.json"},
		"postee.tracee.slack": {"tracee-finding-legacy.json", "tracee-finding.json"},
	}
	samples := map[string]string{}
	for _, s := range bundled.Samples() {
		samples[s.Name] = string(s.JSON)
	}
	for _, pkg := range pkgs {
		t.Run(pkg, func(t *testing.T) {
			e := bundledEngine(t, pkg, 0)
			defer e.Close()
			for _, s := range bundled.Samples() {
				ms, err := e.Evaluate(context.Background(), event(t, string(s.JSON)), "")
				if err != nil || len(ms) != 1 {
					t.Fatalf("%s: %v %v", s.Name, err, ms)
				}
				golden(t, filepath.Join(pkg, strings.TrimSuffix(s.Name, ".json")), ms[0].Msg.Title, ms[0].Msg.URL, ms[0].Msg.Body)
			}
			pair, ok := aggregated[pkg]
			if !ok {
				return
			}
			agg := bundledEngine(t, pkg, 2)
			defer agg.Close()
			pl := newPipeline(agg)
			var ms []Match
			for _, name := range pair {
				ms, _ = pl.handle(t, event(t, samples[name]))
			}
			if len(ms) != 1 {
				t.Fatalf("aggregation: %+v", ms)
			}
			golden(t, filepath.Join(pkg, "aggregated-"+strings.TrimSuffix(pair[0], ".json")+"+"+strings.TrimSuffix(pair[1], ".json")), ms[0].Msg.Title, ms[0].Msg.URL, ms[0].Msg.Body)
		})
	}
}

// bundledEngine routes every event to the bundled package pkg, aggregating
// n messages when n > 0.
func bundledEngine(t *testing.T, pkg string, n int) *Engine {
	t.Helper()
	yaml := "routes:\n- name: r\n  template: t\n"
	if n > 0 {
		yaml += fmt.Sprintf("  plugins:\n    aggregate-message-number: %d\n", n)
	}
	yaml += "templates:\n- name: t\n  rego-package: " + pkg + "\n"
	e, err := New(context.Background(), load(t, t.TempDir(), yaml, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// golden compares a rendered message with testdata/bundled-goldens/name
// (title and url lines, a blank line, the result), or writes it with -update.
func golden(t *testing.T, name, title, url, body string) {
	t.Helper()
	got := fmt.Sprintf("title: %s\nurl: %s\n\n%s\n", title, url, body)
	path := filepath.Join("testdata", "bundled-goldens", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
