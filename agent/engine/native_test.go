package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// nativeConfig sends every event to every bundled template that has a Go
// renderer.
const nativeConfig = `
routes:
- {name: raw-json, template: raw-json}
- {name: raw-html, template: raw-html}
- {name: vuls-html, template: vuls-html}
- {name: vuls-slack, template: vuls-slack}
- {name: trivy-jira, template: trivy-jira}
- {name: tracee-html, template: tracee-html}
- {name: tracee-slack, template: tracee-slack}
templates:
- {name: raw-json, rego-package: postee.rawmessage.json}
- {name: raw-html, rego-package: postee.rawmessage.html}
- {name: vuls-html, rego-package: postee.vuls.html}
- {name: vuls-slack, rego-package: postee.vuls.slack}
- {name: trivy-jira, legacy-scan-renderer: jira}
- {name: tracee-html, rego-package: postee.tracee.html}
- {name: tracee-slack, rego-package: postee.tracee.slack}
`

func nativeTemplates(tb testing.TB) []*template {
	tb.Helper()
	var out []*template
	for _, r := range benchEngineWith(tb, nativeConfig).Routes() {
		if r.tmpl.native == nil {
			tb.Fatalf("template %s (%s) has no Go renderer", r.tmpl.name, r.tmpl.pkg)
		}
		out = append(out, r.tmpl)
	}
	return out
}

// sameAsRego renders in with tm's Go renderer and with its Rego package,
// and reports whether the Go renderer took the event.
func sameAsRego(t *testing.T, tm *template, in ast.Value, what string) bool {
	t.Helper()
	out, ok := tm.native(in)
	if !ok {
		return false
	}
	got := rendered{Title: out.Title, Body: out.Result, URL: out.URL, AggregationPkg: out.AggregationPkg}
	want, err := tm.evaluate(context.Background(), in)
	if err != nil {
		t.Fatalf("%s, %s: Go rendered, Rego failed: %v", what, tm.pkg, err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"title", got.Title, want.Title}, {"result", got.Body, want.Body},
		{"url", got.URL, want.URL}, {"aggregation_pkg", got.AggregationPkg, want.AggregationPkg},
	} {
		if f.got != f.want {
			t.Errorf("%s, %s: %s differs\n%s", what, tm.pkg, f.name, firstDifference(f.got, f.want))
		}
	}
	return true
}

func firstDifference(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("at byte %d:\n Go:   %q\n Rego: %q", i, got[from:min(len(got), i+60)], want[from:min(len(want), i+60)])
}

// allSampleEvents are every event in testdata/events: whole .json files
// and each line of .jsonl files.
func allSampleEvents(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "events", "*.json*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sample events: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if !strings.HasSuffix(f, ".jsonl") {
			out[filepath.Base(f)] = b
			continue
		}
		for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			out[fmt.Sprintf("%s:%d", filepath.Base(f), i+1)] = line
		}
	}
	return out
}

// TestNativeRenderersMatchRegoOnSamples: on every sample event each Go
// renderer produces what its Rego package produces, and takes every event
// of its kind (the Tracee templates leave scan reports to the Rego).
func TestNativeRenderersMatchRegoOnSamples(t *testing.T) {
	leftToRego := map[string]bool{
		"postee.tracee.html trivy-image-report.json":  true,
		"postee.tracee.html image-scan.json":          true,
		"postee.tracee.slack trivy-image-report.json": true,
		"postee.tracee.slack image-scan.json":         true,
	}
	tmpls := nativeTemplates(t)
	for name, raw := range allSampleEvents(t) {
		ev, err := ParseEvent(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tm := range tmpls {
			took := sameAsRego(t, tm, ev.value, name)
			if want := !leftToRego[tm.pkg+" "+name]; took != want {
				t.Errorf("%s on %s: Go renderer took it = %v, want %v", tm.pkg, name, took, want)
			}
		}
	}
}

// TestUserRegoTurnsNativeOff: a user's module that replaces a bundled
// package (the way Postee users customise a template) leaves that template
// to the user's Rego; the others keep their Go renderers.
func TestUserRegoTurnsNativeOff(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir, nativeConfig, map[string]string{
		"rego-templates/vuls.rego": "package postee.vuls.html\n\ntitle := \"mine\"\n\nresult := \"mine\"\n",
	})
	e, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Routes() {
		want := r.tmpl.pkg != "postee.vuls.html"
		if got := r.tmpl.native != nil; got != want {
			t.Errorf("%s: Go renderer = %v, want %v", r.tmpl.pkg, got, want)
		}
	}
	ev, _ := ParseEvent([]byte(`{"ArtifactName":"alpine","Results":[]}`), "")
	r, _ := e.Route("vuls-html")
	ms, err := e.Render(context.Background(), ev, []*Route{r})
	if err != nil || ms[0].Msg.Title != "mine" {
		t.Fatalf("the user's package did not render: %v %+v", err, ms)
	}
}
