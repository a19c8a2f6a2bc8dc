package bundled

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// templates are the packages a route's template can name, with whether the
// result is Slack blocks rather than text.
var templates = []struct {
	pkg   string
	slack bool
}{
	{"postee.rawmessage.json", false},
	{"postee.rawmessage.html", false},
	{"postee.vuls.html", false},
	{"postee.vuls.slack", true},
	{"postee.trivy.jira", false},
	{"postee.tracee.html", false},
	{"postee.tracee.slack", true},
}

func TestFilesAreEmbeddedAndParseAsV1(t *testing.T) {
	files := Files()
	names, err := fs.Glob(FS, "*.rego")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(names) || len(files) < 15 {
		t.Fatalf("Files() has %d files, FS %d .rego files; want the same, at least 15", len(files), len(names))
	}
	for _, name := range names {
		if _, err := ast.ParseModuleWithOpts(name, files[name], ast.ParserOptions{RegoVersion: ast.RegoV1}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := compiled(); err != nil {
		t.Fatalf("compile: %v", err)
	}
}

func TestEveryTemplateRendersEverySample(t *testing.T) {
	events := sampleEvents(t)
	for _, tc := range templates {
		t.Run(tc.pkg, func(t *testing.T) {
			for _, name := range sortedKeys(events) {
				doc := render(t, tc.pkg, events[name])
				assertRendered(t, name, doc, tc.slack)
			}
		})
	}
}

// TestShowRenderedExamples logs one rendering of each template, to read.
func TestShowRenderedExamples(t *testing.T) {
	examples := map[string]string{
		"postee.rawmessage.json": "tracee-finding.json",
		"postee.rawmessage.html": "tracee-finding-legacy.json",
		"postee.vuls.html":       "image-scan.json",
		"postee.vuls.slack":      "trivy-image-report.json",
		"postee.trivy.jira":      "trivy-image-report.json",
		"postee.tracee.html":     "tracee-finding-legacy.json",
		"postee.tracee.slack":    "tracee-finding.json",
	}
	for _, tc := range templates {
		doc := render(t, tc.pkg, sampleEvent(t, examples[tc.pkg]))
		t.Logf("%s on %s\ntitle: %s\n%s", tc.pkg, examples[tc.pkg], doc["title"], resultText(t, doc))
	}
}

func TestVulnerabilityTemplatesShowBothReportShapes(t *testing.T) {
	trivy := []string{"alpine:3.10", "CVE-2021-36159", "CVE-2021-3711", "CVE-2021-3712", "apk-tools", "2.10.7-r0", "libssl1.1"}
	aqua := []string{"alpine:3.10", "Docker Hub", "CVE-2021-36159", "CVE-2021-3711", "CVE-2021-3712", "libcrypto1.1", "non-compliant", "max_severity", "FAIL"}
	cases := []struct {
		pkg, event string
		want       []string
	}{
		{"postee.vuls.html", "trivy-image-report.json", append(trivy, `href="https://avd.aquasec.com/nvd/cve-2021-3711"`, "Critical severity", "High severity")},
		{"postee.vuls.html", "image-scan.json", append(aqua, "Negligible")},
		{"postee.vuls.slack", "trivy-image-report.json", append(trivy, "<https://avd.aquasec.com/nvd/cve-2021-3711|CVE-2021-3711>", "*Critical:* 2", "*High:* 1")},
		{"postee.vuls.slack", "image-scan.json", aqua},
		{"postee.trivy.jira", "trivy-image-report.json", append(trivy, "[CVE-2021-3711|https://avd.aquasec.com/nvd/cve-2021-3711]", "h4. Critical severity")},
		{"postee.trivy.jira", "image-scan.json", aqua},
	}
	for _, tc := range cases {
		t.Run(tc.pkg+"/"+tc.event, func(t *testing.T) {
			doc := render(t, tc.pkg, sampleEvent(t, tc.event))
			if got := doc["title"]; got != "alpine:3.10 vulnerability scan report" {
				t.Errorf("title = %q", got)
			}
			out := resultText(t, doc)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("result lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestTraceeTemplatesReadBothShapes(t *testing.T) {
	cases := []struct {
		event, title string
		want         []string
	}{
		{"tracee-finding-legacy.json", "Tracee detection TRC-2 Anti-Debugging on node-1", []string{"high (3)", "strace (pid 4242)", "Defense Evasion", "T1622", "ptrace"}},
		{"tracee-finding.json", "Tracee detection TRC-102 Anti-Debugging detected on node-1", []string{"high (3)", "strace (pid 4242)", "Debugger Evasion (T1622)", "ptrace", "anti_debugging"}},
	}
	for _, pkg := range []string{"postee.tracee.html", "postee.tracee.slack"} {
		for _, tc := range cases {
			t.Run(pkg+"/"+tc.event, func(t *testing.T) {
				doc := render(t, pkg, sampleEvent(t, tc.event))
				if doc["title"] != tc.title {
					t.Errorf("title = %q, want %q", doc["title"], tc.title)
				}
				out := resultText(t, doc)
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("result lacks %q:\n%s", w, out)
					}
				}
			})
		}
	}
}

func TestRawJSONRoundTrips(t *testing.T) {
	events := sampleEvents(t)
	for _, name := range sortedKeys(events) {
		doc := render(t, "postee.rawmessage.json", events[name])
		s, ok := doc["result"].(string)
		if !ok {
			t.Fatalf("%s: result is %T", name, doc["result"])
		}
		if got := decode(t, []byte(s)); !reflect.DeepEqual(got, events[name]) {
			t.Errorf("%s: round trip differs:\n got %v\nwant %v", name, got, events[name])
		}
	}
}

func TestRawTitles(t *testing.T) {
	cases := map[string]string{
		"trivy-image-report.json":    "alpine:3.10",
		"image-scan.json":            "alpine:3.10",
		"tracee-finding-legacy.json": "Tracee detection TRC-2 Anti-Debugging on node-1",
	}
	for event, want := range cases {
		for _, pkg := range []string{"postee.rawmessage.json", "postee.rawmessage.html"} {
			if got := render(t, pkg, sampleEvent(t, event))["title"]; got != want {
				t.Errorf("%s on %s: title = %q, want %q", pkg, event, got, want)
			}
		}
	}
	if got := render(t, "postee.rawmessage.json", map[string]any{"x": 1})["title"]; got != "Postee raw message" {
		t.Errorf("title of an unknown event = %q", got)
	}
}

func TestHTMLIsEscaped(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	cases := []struct {
		pkg, escaped string
		input        any
	}{
		{"postee.vuls.html", "&lt;script&gt;", map[string]any{
			"ArtifactName": evil,
			"Results": []any{map[string]any{"Vulnerabilities": []any{map[string]any{
				"VulnerabilityID": evil, "PkgName": evil, "Title": evil, "Severity": "HIGH",
				"PrimaryURL": `javascript:alert(1)`,
			}}}},
		}},
		{"postee.vuls.html", "&lt;script&gt;", map[string]any{"image": "x", "registry": evil, "resources": []any{map[string]any{
			"resource":        map[string]any{"name": evil, "version": "1"},
			"vulnerabilities": []any{map[string]any{"name": "CVE-1", "aqua_severity": "low", "nvd_url": `https://x.example/"onmouseover="alert(1)`}},
		}}}},
		{"postee.tracee.html", "&lt;script&gt;", map[string]any{"SigMetadata": map[string]any{"ID": "TRC-1", "Description": evil}, "Context": map[string]any{"hostName": evil, "processName": evil}}},
		// JSON encoding already writes < and > as \u003c and \u003e.
		{"postee.rawmessage.html", `\u003cscript\u003e`, map[string]any{"a": evil}},
		{"postee.vuls.html.aggregation", "&lt;script&gt;", []any{map[string]any{"title": evil, "description": "<p>ok</p>"}}},
	}
	for _, tc := range cases {
		t.Run(tc.pkg, func(t *testing.T) {
			out := resultText(t, render(t, tc.pkg, tc.input))
			low := strings.ToLower(out)
			for _, bad := range []string{"<script", "javascript:", `"onmouseover`} {
				if strings.Contains(low, bad) {
					t.Errorf("result holds %q:\n%s", bad, out)
				}
			}
			if !strings.Contains(out, tc.escaped) {
				t.Errorf("result lacks the escaped text:\n%s", out)
			}
		})
	}
}

// TestOddInputsStillRender feeds events a template does not expect, or
// expects with fields missing, null or of the wrong type: every template
// must still produce a title and a result.
func TestOddInputsStillRender(t *testing.T) {
	inputs := map[string]any{
		"empty":           map[string]any{},
		"results string":  map[string]any{"Results": "x", "resources": 3},
		"odd vulns":       map[string]any{"Results": []any{map[string]any{"Vulnerabilities": []any{nil, 1, map[string]any{"Severity": 5, "VulnerabilityID": 7}}}}},
		"empty aqua":      map[string]any{"image": "", "vulnerability_summary": map[string]any{}, "resources": []any{map[string]any{"vulnerabilities": []any{map[string]any{}}}}},
		"null everywhere": map[string]any{"ArtifactName": nil, "image": nil, "SigMetadata": nil, "metadata": nil, "Context": nil},
		"odd tracee":      map[string]any{"SigMetadata": map[string]any{"Properties": "x"}, "Context": "x"},
		"tracee nulls":    map[string]any{"metadata": map[string]any{"Properties": map[string]any{"signatureID": nil, "Severity": "bad"}}, "hostName": nil},
		"big numbers":     map[string]any{"processId": json.Number("18446744073709551617"), "timestamp": 1.5},
	}
	for _, tc := range templates {
		for _, name := range sortedKeys(inputs) {
			t.Run(tc.pkg+"/"+name, func(t *testing.T) {
				assertRendered(t, name, render(t, tc.pkg, inputs[name]), tc.slack)
			})
		}
	}
}

func TestAggregationCombinesMessages(t *testing.T) {
	cases := []struct {
		pkg   string
		slack bool
		descs []any
	}{
		{"postee.vuls.html.aggregation", false, []any{"<p>first body</p>", "<p>second body</p>"}},
		{"postee.tracee.html.aggregation", false, []any{"<p>first body</p>", "<p>second body</p>"}},
		{"postee.trivy.jira.aggregation", false, []any{"first body", "second body"}},
		{"postee.vuls.slack.aggregation", true, []any{slackBlocks("first body"), slackBlocks("second body")}},
		// The engine may hand over a Slack result as its JSON text.
		{"postee.tracee.slack.aggregation", true, []any{jsonText(t, slackBlocks("first body")), "second body"}},
		{"postee.vuls.slack.trivy.aggregation", true, []any{slackBlocks("first body"), slackBlocks("second body")}},
	}
	for _, tc := range cases {
		t.Run(tc.pkg, func(t *testing.T) {
			in := []any{
				map[string]any{"title": "first title", "description": tc.descs[0]},
				map[string]any{"title": "second title", "description": tc.descs[1]},
			}
			doc := render(t, tc.pkg, in)
			assertRendered(t, tc.pkg, doc, tc.slack)
			if title, _ := doc["title"].(string); !strings.HasSuffix(title, "(2)") {
				t.Errorf("title = %q, want a count of 2", title)
			}
			out := resultText(t, doc)
			for _, w := range []string{"first title", "second title", "first body", "second body"} {
				if !strings.Contains(out, w) {
					t.Errorf("result lacks %q:\n%s", w, out)
				}
			}
			if strings.Index(out, "first body") > strings.Index(out, "second body") {
				t.Errorf("messages out of order:\n%s", out)
			}
		})
	}
}

func TestSlackStaysInsideLimits(t *testing.T) {
	var vulns []any
	for i := range 120 {
		vulns = append(vulns, map[string]any{
			"VulnerabilityID": "CVE-2024-" + itoa(10000+i), "PkgName": strings.Repeat("p", 60),
			"InstalledVersion": "1.0", "FixedVersion": "1.1", "Severity": "CRITICAL",
			"PrimaryURL": "https://avd.aquasec.com/nvd/cve-2024-" + itoa(10000+i),
		})
	}
	report := map[string]any{"ArtifactName": "big:1", "Results": []any{map[string]any{"Vulnerabilities": vulns}}}
	doc := render(t, "postee.vuls.slack", report)
	blocks := doc["result"].([]any)
	assertSlackLimits(t, blocks)
	if out := resultText(t, doc); !strings.Contains(out, "…and 100 more") {
		t.Errorf("the cut list does not say how many were left out:\n%s", out)
	}

	var msgs []any
	for range 30 {
		msgs = append(msgs, map[string]any{"title": "t", "description": blocks})
	}
	agg := render(t, "postee.vuls.slack.aggregation", msgs)["result"].([]any)
	if len(agg) != 50 {
		t.Errorf("aggregated %d blocks, want the 50 Slack allows", len(agg))
	}
	assertSlackLimits(t, agg)
}

func assertSlackLimits(t *testing.T, blocks []any) {
	t.Helper()
	if len(blocks) > 50 {
		t.Errorf("%d blocks, Slack takes 50", len(blocks))
	}
	for _, b := range blocks {
		text, _ := b.(map[string]any)["text"].(map[string]any)
		if s, _ := text["text"].(string); len([]rune(s)) > 3000 {
			t.Errorf("a section holds %d characters, Slack takes 3000", len([]rune(s)))
		}
	}
}

func assertRendered(t *testing.T, what string, doc map[string]any, slack bool) {
	t.Helper()
	if s, ok := doc["title"].(string); !ok || s == "" {
		t.Errorf("%s: title = %#v, want a non-empty string", what, doc["title"])
	}
	if slack {
		if a, ok := doc["result"].([]any); !ok || len(a) == 0 {
			t.Errorf("%s: result = %#v, want non-empty blocks", what, doc["result"])
		}
		return
	}
	if s, ok := doc["result"].(string); !ok || s == "" {
		t.Errorf("%s: result = %#v, want a non-empty string", what, doc["result"])
	}
}

// resultText is the result as text: strings as they are, Slack blocks as
// indented JSON without HTML escaping.
func resultText(t *testing.T, doc map[string]any) string {
	t.Helper()
	if s, ok := doc["result"].(string); ok {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(doc["result"]); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func slackBlocks(text string) []any {
	return []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTraceeFastAndSlowPathsAgree renders the same finding through the fast
// path (usual shape) and the else (an odd ctx sends it there: a null
// SigMetadata makes sig fall back to {}), and expects the same fields.
func TestTraceeFastAndSlowPathsAgree(t *testing.T) {
	base := map[string]any{
		"hostName": "node-1", "processName": "sh", "processId": 7, "timestamp": 1763630042123456789,
		"container":  map[string]any{"id": "c1"},
		"kubernetes": map[string]any{"podName": "p", "podNamespace": "ns"},
		"metadata":   map[string]any{"Properties": map[string]any{"signatureID": "TRC-9", "signatureName": "n", "Severity": 2}},
	}
	odd := map[string]any{"SigMetadata": nil}
	for k, v := range base {
		odd[k] = v
	}
	for _, pkg := range []string{"postee.tracee.html", "postee.tracee.slack"} {
		fast, slow := render(t, pkg, base), render(t, pkg, odd)
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast path %v, else %v", pkg, fast, slow)
		}
		if out := resultText(t, fast); !strings.Contains(out, "c1") || !strings.Contains(out, "ns/p") {
			t.Errorf("%s: container id or pod missing:\n%s", pkg, out)
		}
	}
}

// TestSamplesMatchTestdata: the embedded sample events (what `check`
// renders templates on) are the repository's sample events.
func TestSamplesMatchTestdata(t *testing.T) {
	samples := Samples()
	if len(samples) != 4 {
		t.Fatalf("%d samples, want 4", len(samples))
	}
	for _, s := range samples {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", s.Name))
		if err != nil || string(b) != string(s.JSON) {
			t.Errorf("samples/%s differs from testdata/events/%s (%v): copy it again", s.Name, s.Name, err)
		}
	}
}
