package engine

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestUnusedItemsAreWarnings: templates and actions that no route uses
// load with their problems as warnings (Postee loads them too); used, the
// same problems are errors. An unused url template is not even fetched.
func TestUnusedItemsAreWarnings(t *testing.T) {
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		http.Error(w, "gone", http.StatusNotFound)
	}))
	defer srv.Close()
	const yaml = `routes:
- name: r
  actions: [ok]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
- name: broken-body
  body: |
    title := 
- name: from-web
  url: %URL%
- name: old
  legacy-scan-renderer: pdf
actions:
- name: ok
  type: record
  enable: true
- name: typo
  type: recrod
  enable: true
- name: incomplete
  type: record
  enable: true
  tokn: x
`
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, strings.ReplaceAll(yaml, "%URL%", srv.URL), nil)
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	file := filepath.Join(dir, "cfg.yaml")
	want := []string{
		file + `:11: templates[1] "broken-body": rego: unexpected eof token: expected rule value term`,
		file + `:13: templates[3] "old".legacy-scan-renderer: unknown renderer "pdf" (use html, slack or jira) (a warning: no route uses this template)`,
		file + `:20: actions[1] "typo".type: unknown action type "recrod" (did you mean "record"?) (known: record) (a warning: no route uses this action)`,
		file + `:25: actions[2] "incomplete".tokn: unknown key (did you mean "token"?) (a warning: no route uses this action)`,
	}
	got := e.Warnings()
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%v\nwant %d", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].Error(), w) {
			t.Errorf("warning %d:\n%s\nwant prefix\n%s", i, got[i], w)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("unused url template fetched %d times", n)
	}

	// The same items used by a route are errors.
	cfg = load(t, dir, strings.ReplaceAll(strings.Replace(yaml, "actions: [ok]\n  template: t", "actions: [ok, typo, incomplete]\n  template: from-web", 1), "%URL%", srv.URL), nil)
	_, err = New(context.Background(), cfg, Options{Registry: rec.registry()})
	for _, w := range []string{`templates[2] "from-web".url: fetch template: server answered 404`, `actions[1] "typo".type: unknown action type`, `actions[2] "incomplete".tokn: unknown key`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("used items: missing %q in %v", w, err)
		}
	}
}

// TestRegoTemplatesReplaceBundledPackage: a user package with a bundled
// package's name replaces it (Postee users customise by editing
// postee.vuls.html in rego-templates) instead of merging into conflicting
// rules, and the replacement is logged. The bundled aggregation package
// under it stays.
func TestRegoTemplatesReplaceBundledPackage(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir, `routes:
- name: r
  template: t
templates:
- name: t
  rego-package: postee.vuls.html
`, map[string]string{"rego-templates/mine.rego": `package postee.vuls.html
title = sprintf("mine: %s", [input.image])
result = "custom"
aggregation_pkg = "postee.vuls.html.aggregation"
`})
	var logs bytes.Buffer
	e, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ms, err := e.Evaluate(context.Background(), event(t, `{"image":"alpine:3.10"}`), "")
	if err != nil || len(ms) != 1 || ms[0].Msg.Title != "mine: alpine:3.10" || ms[0].Msg.Body != "custom" || ms[0].aggPkg != "postee.vuls.html.aggregation" {
		t.Fatalf("%v %+v", err, ms)
	}
	line := `msg="bundled template package replaced by rego-templates" package=postee.vuls.html file=` + filepath.Join(dir, "rego-templates", "mine.rego")
	if !strings.Contains(logs.String(), line) {
		t.Errorf("log lacks %q:\n%s", line, logs.String())
	}
	// The bundled aggregation package under the replaced one still renders.
	agg, err := templateQuery(renderQuery(ast.MustParseRef("data.postee.vuls.html.aggregation")), ms[0].Route.tmpl.c)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := agg.Eval(context.Background(), ast.MustInterfaceToValue([]any{map[string]any{"title": "one", "description": "<p>1</p>"}}))
	if err != nil || len(rs) != 1 || !strings.Contains(text(rs[0].Bindings["__result"]), "<p>1</p>") {
		t.Errorf("bundled aggregation package: %v %v", err, rs)
	}
}

// TestJSONFormat: Postee's jsonformat builtin, in a v0 template as
// Postee's raw-message templates call it: one space of indent, sorted keys,
// numbers as written, HTML characters escaped as encoding/json does; not
// an object: undefined.
func TestJSONFormat(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir, `routes:
- name: r
  template: t
templates:
- name: t
  rego-package: mine.raw
`, map[string]string{"rego-templates/raw.rego": `package mine.raw
title := "raw"
result := sprintf("<pre>%s</pre>", [jsonformat(input)])
`})
	e, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tests := []struct{ in, want string }{
		{`{"user":"demo"}`, "<pre>{\n \"user\": \"demo\"\n}</pre>"},
		{`{"b":[1,2.50,{"c":null}],"a":"<x&y>"}`, "<pre>{\n \"a\": \"\\u003cx\\u0026y\\u003e\",\n \"b\": [\n  1,\n  2.50,\n  {\n   \"c\": null\n  }\n ]\n}</pre>"},
		{`{}`, "<pre>{}</pre>"},
	}
	for _, tt := range tests {
		ms, err := e.Evaluate(context.Background(), event(t, tt.in), "")
		if err != nil || len(ms) != 1 || ms[0].Msg.Body != tt.want {
			t.Errorf("%s: %v %q, want %q", tt.in, err, body(ms), tt.want)
		}
	}
	if _, err := e.Evaluate(context.Background(), event(t, `[1,2]`), ""); err == nil || !strings.Contains(err.Error(), "defines no title and result") {
		t.Errorf("array input: %v, want undefined", err)
	}
}

func body(ms []Match) string {
	if len(ms) == 0 {
		return ""
	}
	return ms[0].Msg.Body
}

// TestTemplateProblemsFoundAtLoad: a template package without title or
// result, and one whose rules conflict at evaluation, fail the load with
// the line of the Rego at fault; one that fails only on some sample
// events is a warning.
func TestTemplateProblemsFoundAtLoad(t *testing.T) {
	files := map[string]string{
		"rego-templates/no-result.rego": "package my.noresult\ntitle := \"x\"\nresults := \"typo\"\n",
		"rego-templates/conflict.rego":  "package my.conflict\nimport rego.v1\ntitle := \"x\"\nresult := \"a\" if true\nresult := \"b\" if true\n",
		// Conflicts only on an Aqua image scan; renders a Trivy report.
		"rego-templates/partial.rego": "package my.partial\nimport rego.v1\ntitle := \"x\"\nresult := \"a\" if input.image\nresult := \"b\" if input.image\nresult := \"c\" if input.ArtifactName\n",
	}
	tests := []struct {
		pkg, body string
		err, warn string
	}{
		{pkg: "my.noresult", err: `DIR/cfg.yaml:5: templates[0] "t": package my.noresult defines no result rule`},
		{pkg: "my.conflict", err: `DIR/rego-templates/conflict.rego:5: templates[0] "t": rendering sample event ` +
			`image-scan.json, tracee-finding-legacy.json, tracee-finding.json, trivy-image-report.json: eval_conflict_error: rule data.my.conflict.result produced conflicting values: ` +
			`"a" at DIR/rego-templates/conflict.rego:4 "b" at DIR/rego-templates/conflict.rego:5`},
		{body: "title := \"x\"\nresult := 1 if input.image\nresult := 2 if input.image\n", err: `DIR/cfg.yaml:9: templates[0] "t": rendering sample event image-scan.json: ` +
			`eval_conflict_error: rule data.posteed.inline.t0.result produced conflicting values: 1 at DIR/cfg.yaml:8 2 at DIR/cfg.yaml:9`},
		{pkg: "my.partial", warn: `DIR/rego-templates/partial.rego:5: templates[0] "t": rendering sample event image-scan.json: eval_conflict_error: ` +
			`rule data.my.partial.result produced conflicting values: "a" at DIR/rego-templates/partial.rego:4 "b" at DIR/rego-templates/partial.rego:5 (renders trivy-image-report.json)`},
	}
	for _, tt := range tests {
		t.Run(tt.pkg+tt.body, func(t *testing.T) {
			dir := t.TempDir()
			src := "  rego-package: " + tt.pkg + "\n"
			if tt.body != "" {
				src = "  body: |\n    " + strings.ReplaceAll(strings.TrimSpace(tt.body), "\n", "\n    ") + "\n"
			}
			cfg := load(t, dir, "routes:\n- name: r\n  template: t\ntemplates:\n- name: t\n"+src, files)
			tt.err, tt.warn = strings.ReplaceAll(tt.err, "DIR", dir), strings.ReplaceAll(tt.warn, "DIR", dir)
			e, err := New(context.Background(), cfg, Options{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error:\n%v\nwant\n%s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if w := e.Warnings(); len(w) != 1 || !strings.Contains(w[0].Error(), tt.warn) {
				t.Fatalf("warnings %v, want %s", w, tt.warn)
			}
		})
	}
}

// TestInputFilesFromRegoFilters: a relative input-file is read beside
// cfg.yaml when it is there, else from Postee's rego-filters folder
// (rego-filters beside cfg.yaml, or the folder the daemon is given).
func TestInputFilesFromRegoFilters(t *testing.T) {
	allow := func(image string) string {
		return "package postee\nallow { contains(input.image, \"" + image + "\") }\n"
	}
	const yaml = "routes:\n- name: r\n  input-files: [Allow-Image.rego]\n  template: t\ntemplates:\n- name: t\n  rego-package: postee.rawmessage.json\n"
	tests := []struct {
		name    string
		files   map[string]string
		filters string // cfg.FiltersDir below the test dir; "" the default
		matches string // the image the route then allows
	}{
		{"rego-filters beside cfg.yaml", map[string]string{"rego-filters/Allow-Image.rego": allow("alpine")}, "", "alpine"},
		{"beside cfg.yaml first", map[string]string{"Allow-Image.rego": allow("debian"), "rego-filters/Allow-Image.rego": allow("alpine")}, "", "debian"},
		{"given folder", map[string]string{"elsewhere/Allow-Image.rego": allow("ubuntu"), "rego-filters/Allow-Image.rego": allow("alpine")}, "elsewhere", "ubuntu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := load(t, dir, yaml, tt.files)
			if tt.filters != "" {
				cfg.FiltersDir = filepath.Join(dir, tt.filters)
			}
			e, err := New(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			for _, image := range []string{"alpine", "debian", "ubuntu"} {
				ms, err := e.Evaluate(context.Background(), event(t, `{"image":"`+image+`:1"}`), "")
				if err != nil || (len(ms) == 1) != (image == tt.matches) {
					t.Errorf("%s: %v, %d matches", image, err, len(ms))
				}
			}
		})
	}
}
