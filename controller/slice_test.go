package controller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/postee-fleet/posteed/agent/action"
	_ "github.com/postee-fleet/posteed/agent/action/exec"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/transport"
)

// TestSliceCarriesFetchedTemplate: a url template is fetched once, by the
// controller; the runner's slice carries the text fetched (as a body with
// its package line, so the runner numbers no package differently) and
// renders the same without contacting the url.
func TestSliceCarriesFetchedTemplate(t *testing.T) {
	const src = "title := sprintf(\"fetched %v\", [input.x])\nresult := \"from the url\"\n"
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Write([]byte(src))
	}))
	defer srv.Close()
	dir := t.TempDir()
	// c0 only runs on the controller: in the slice, t1 and t2 come first
	// and second, where a package numbered by position would collide.
	file := writeSliceCfg(t, dir, `
routes:
- {name: here, actions: [local], template: c0}
- {name: url, actions: [remote], template: t1}
- {name: body, actions: [remote], template: t2}
templates:
- name: c0
  body: |
    title := "c0"
    result := "c0"
- {name: t1, url: `+srv.URL+`/t.rego}
- name: t2
  body: |
    title := "inline"
    result := input.x
actions:
- {name: local, type: exec, enable: true, exec-script: 'true'}
- {name: remote, type: exec, enable: true, runs-on: runner-1, exec-script: 'true'}
`)
	ctl := compileForSlice(t, file)
	if n := fetches.Load(); n != 1 {
		t.Fatalf("controller fetched the template %d times, want 1", n)
	}
	sl := mustSlice(t, ctl, "runner-1")
	srv.Close() // the runner must not need it
	run := compileSlice(t, sl, "runner-1")
	cfg := run.Config()
	if len(cfg.Templates) != 2 || cfg.Templates[0].URL != "" || cfg.Templates[0].Body != "package posteed.inline.t1\n"+src {
		t.Fatalf("slice templates: %+v", cfg.Templates)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("the url was fetched %d times, want 1 (the controller's)", n)
	}
	for _, route := range []string{"url", "body"} {
		if got, want := renderRoute(t, run, route, `{"x":7}`), renderRoute(t, ctl, route, `{"x":7}`); got != want {
			t.Errorf("route %s: runner renders %q, controller %q", route, got, want)
		}
	}
}

// TestSliceHasCompiledText: Rego edited on disk after the controller
// compiled it (before a reload) does not reach the runner: its slice
// carries the templates, the library they read and the route's
// input-files as compiled.
func TestSliceHasCompiledText(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"rego-templates/custom.rego":    "package custom.t\ntitle := data.mylib.hello\nresult := \"r\"\n",
		"rego-templates/lib/mylib.rego": "package mylib\nhello := \"compiled\"\n",
		"filters/allow.rego":            "package postee\nallow { input.x == 1 }\n",
	}
	for name, text := range files {
		writeSliceFile(t, filepath.Join(dir, name), text)
	}
	file := writeSliceCfg(t, dir, `
routes:
- {name: r, actions: [remote], template: t, input-files: [filters/allow.rego]}
templates:
- {name: t, rego-package: custom.t}
actions:
- {name: remote, type: exec, enable: true, runs-on: runner-1, exec-script: 'true'}
`)
	ctl := compileForSlice(t, file)
	writeSliceFile(t, filepath.Join(dir, "rego-templates/lib/mylib.rego"), "package mylib\nhello := \"edited\"\n")
	writeSliceFile(t, filepath.Join(dir, "rego-templates/custom.rego"), "package custom.t\ntitle := \"edited\"\nresult := \"r\"\n")
	writeSliceFile(t, filepath.Join(dir, "filters/allow.rego"), "package postee\nallow { input.x == 2 }\n")
	sl := mustSlice(t, ctl, "runner-1")
	want := map[string]string{
		"rego-templates/custom.rego":    files["rego-templates/custom.rego"],
		"rego-templates/lib/mylib.rego": files["rego-templates/lib/mylib.rego"],
		"inputs/r0-0-allow.rego":        files["filters/allow.rego"],
	}
	for name, text := range want {
		if sl.Files[name] != text {
			t.Errorf("slice %s = %q, want the compiled %q", name, sl.Files[name], text)
		}
	}
	run := compileSlice(t, sl, "runner-1")
	if got := renderRoute(t, run, "r", `{"x":1}`); got != "compiled\nr" {
		t.Errorf("runner renders %q, want the compiled library's title", got)
	}
	if got := renderRoute(t, run, "r", `{"x":2}`); got != "" {
		t.Errorf("the edited filter reached the runner: %q", got)
	}
}

// TestSliceCarriesAnotherTemplatesBody: a template read by another
// (data.shared.hello) whose own route stays on the controller still
// reaches the runner, as a rego-templates file of the slice.
func TestSliceCarriesAnotherTemplatesBody(t *testing.T) {
	dir := t.TempDir()
	writeSliceFile(t, filepath.Join(dir, "rego-templates/custom.rego"), "package custom.t\ntitle := data.shared.hello\nresult := \"r\"\n")
	file := writeSliceCfg(t, dir, `
routes:
- {name: here, actions: [local], template: shared}
- {name: r, actions: [remote], template: t}
templates:
- name: shared
  body: |
    package shared
    hello := "from another template"
    title := hello
    result := hello
- {name: t, rego-package: custom.t}
actions:
- {name: local, type: exec, enable: true, exec-script: 'true'}
- {name: remote, type: exec, enable: true, runs-on: runner-1, exec-script: 'true'}
`)
	ctl := compileForSlice(t, file)
	run := compileSlice(t, mustSlice(t, ctl, "runner-1"), "runner-1")
	if got := renderRoute(t, run, "r", `{}`); got != "from another template\nr" {
		t.Errorf("runner renders %q", got)
	}
}

func writeSliceFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSliceCfg(t *testing.T, dir, text string) string {
	t.Helper()
	file := filepath.Join(dir, "cfg.yaml")
	writeSliceFile(t, file, text)
	return file
}

// compileForSlice compiles file as the controller does.
func compileForSlice(t *testing.T, file string) *engine.Engine {
	t.Helper()
	eng, err := compile(context.Background(), file, "", engine.Options{Registry: action.Default})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}

func mustSlice(t *testing.T, eng *engine.Engine, runner string) *transport.Slice {
	t.Helper()
	sl, err := buildSlice(eng, runner, 1, "e")
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// compileSlice compiles sl as a runner does (agent/runner configsync.go):
// its files and cfg.yaml in a directory of their own, loaded like any
// cfg.yaml.
func compileSlice(t *testing.T, sl *transport.Slice, runner string) *engine.Engine {
	t.Helper()
	dir := t.TempDir()
	for name, text := range sl.Files {
		writeSliceFile(t, filepath.Join(dir, filepath.FromSlash(name)), text)
	}
	file := writeSliceCfg(t, dir, sl.Config)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("load slice: %v\n%s", err, sl.Config)
	}
	eng, err := engine.New(context.Background(), cfg, engine.Options{
		Registry: action.Default,
		Here:     func(runsOn string) bool { return runsOn == runner || runsOn == engine.Origin },
	})
	if err != nil {
		t.Fatalf("compile slice: %v\n%s", err, sl.Config)
	}
	t.Cleanup(eng.Close)
	return eng
}

// renderRoute is the title and body route renders for event; "" when the
// route does not match it.
func renderRoute(t *testing.T, eng *engine.Engine, route, event string) string {
	t.Helper()
	ev, err := engine.ParseEvent([]byte(event), "")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := eng.Evaluate(context.Background(), ev, route)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		return ""
	}
	return ms[0].Msg.Title + "\n" + ms[0].Msg.Body
}

// TestLiteralRoundTrip: a template's text survives the slice's cfg.yaml
// exactly, whatever its whitespace.
func TestLiteralRoundTrip(t *testing.T) {
	for _, text := range []string{
		"package p\ntitle := \"t\"\nresult := \"r\"\n",
		"package p\nresult := \"r\"",                         // no final newline
		"package p\n\nresult := \"r\"\n\n\n",                 // several
		"  package p\nresult if {\n\ttrue\n}\n",              // leading spaces, tabs
		"\npackage p\nresult := \"r\"\n",                     // leading line break
		"package p\ntitle := \"t\"   \nresult := \"#: x\"\n", // trailing spaces, YAML-like text
	} {
		out, err := yaml.Marshal(mapping("templates", seq([]*yaml.Node{mapping("name", scalar("t"), "body", literal(text))}),
			"routes", seq(nil), "actions", seq(nil)))
		if err != nil {
			t.Fatal(err)
		}
		file := writeSliceCfg(t, t.TempDir(), string(out))
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatalf("%q: %v\n%s", text, err, out)
		}
		if got := cfg.Templates[0].Body; got != text {
			t.Errorf("body %q came back as %q\n%s", text, got, out)
		}
	}
}

// TestDigestFollowsFetchedText: the config's digest (which decides whether
// a reload is a new revision) covers a url template's text as fetched, so
// a reload after only the served template changed is a new revision, and
// the same text gives the same digest.
func TestDigestFollowsFetchedText(t *testing.T) {
	var src atomic.Value
	src.Store("title := \"t\"\nresult := \"one\"\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(src.Load().(string)))
	}))
	defer srv.Close()
	file := writeSliceCfg(t, t.TempDir(), `
routes:
- {name: url, actions: [local], template: t1}
templates:
- {name: t1, url: `+srv.URL+`/t.rego}
actions:
- {name: local, type: exec, enable: true, exec-script: 'true'}
`)
	first := contentDigest(compileForSlice(t, file))
	if again := contentDigest(compileForSlice(t, file)); again != first {
		t.Fatalf("the same content gave two digests: %s, %s", first, again)
	}
	src.Store("title := \"t\"\nresult := \"two\"\n")
	if changed := contentDigest(compileForSlice(t, file)); changed == first {
		t.Fatal("a changed url template kept the digest")
	}
}
