package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// recorder is an action type that remembers what it was sent.
type recorder struct {
	mu   sync.Mutex
	sent []string // "action:route:title"; guarded by mu
	fail map[string]int
}

func (r *recorder) registry() *action.Registry {
	reg := action.NewRegistry()
	reg.Register("record", func(spec action.Spec) (action.Action, error) {
		var c struct {
			Token config.Secret   `yaml:"token"`
			Delay config.Duration `yaml:"delay"`
		}
		if err := spec.Decode(&c); err != nil {
			return nil, err
		}
		return &recordAction{r: r, name: spec.Name, delay: c.Delay.D()}, nil
	})
	return reg
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

type recordAction struct {
	r     *recorder
	name  string
	delay time.Duration
}

func (a *recordAction) Send(ctx context.Context, m action.Message) (bool, error) {
	time.Sleep(a.delay)
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	if a.r.fail[a.name] > 0 {
		a.r.fail[a.name]--
		return true, fmt.Errorf("transient")
	}
	a.r.sent = append(a.r.sent, a.name+":"+m.Route+":"+m.Title)
	return false, nil
}

func load(t *testing.T, dir, yaml string, files map[string]string) *config.Config {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func event(t *testing.T, js string) *Event {
	t.Helper()
	ev, err := ParseEvent([]byte(js), "")
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

const userTemplates = `
package custom.title
import data.helpers
title := helpers.name(input)
result := sprintf("image %s", [input.image])
`
const helpersRego = `
package helpers
# Postee-era v0 syntax: no "if"
name(x) = n { n := x.image }
name(x) = n { not x.image; n := "unknown" }
`

func TestRoutesFiltersAndTemplates(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `
routes:
- name: alpine-critical
  input: |
    contains(input.image, "alpine")
    input.vulnerability_summary.critical > 0
  actions: [a]
  template: custom
- name: by-files
  input-files: [filters/a.rego, filters/b.rego]
  actions: [b]
  template: inline
- name: everything
  actions: [c]
  template: inline
templates:
- name: custom
  rego-package: custom.title
- name: inline
  body: |
    title := "inline"
    result := "x"
actions:
- {name: a, type: record, enable: true}
- {name: b, type: record, enable: true}
- {name: c, type: record, enable: true}
`, map[string]string{
		"rego-templates/custom.rego":  userTemplates,
		"rego-templates/helpers.rego": helpersRego,
		"filters/a.rego":              "package postee\nallow { input.kind == \"a\" }\n",
		"filters/b.rego":              "package postee\nallow if input.kind == \"b\"\n",
	})
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		event string
		want  []string
	}{
		{`{"image":"alpine:3.10","vulnerability_summary":{"critical":2}}`, []string{"alpine-critical=alpine:3.10", "everything=inline"}},
		{`{"image":"alpine:3.10","vulnerability_summary":{"critical":0}}`, []string{"everything=inline"}}, // lines are ANDed
		{`{"kind":"a"}`, []string{"by-files=inline", "everything=inline"}},
		{`{"kind":"b"}`, []string{"by-files=inline", "everything=inline"}}, // files are ORed
		{`{"kind":"c"}`, []string{"everything=inline"}},
		{`[1,2]`, []string{"everything=inline"}},
	}
	for _, tc := range tests {
		ms, err := e.Evaluate(context.Background(), event(t, tc.event), "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Route.Name+"="+m.Msg.Title)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: matched %v, want %v", tc.event, got, tc.want)
		}
	}
	ms, err := e.Evaluate(context.Background(), event(t, `{"image":"alpine","vulnerability_summary":{"critical":1}}`), "")
	if err != nil || ms[0].Msg.Body != "image alpine" {
		t.Fatalf("body: %v %+v", err, ms)
	}
	ms, err = e.Evaluate(context.Background(), event(t, `{"kind":"a"}`), "everything")
	if err != nil || len(ms) != 1 || ms[0].Route.Name != "everything" {
		t.Fatalf("only route: %v %+v", err, ms)
	}
	if _, err := e.Evaluate(context.Background(), event(t, `{}`), "nope"); err == nil {
		t.Fatal("unknown route accepted")
	}
}

func TestLoadErrorsPointAtTheirSource(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `routes:
- name: bad-input
  input: |
    contains(input.image, "alpine")
    input.x ==
  template: t
- name: bad-file
  input-files: [filters/bad.rego]
  actions: [x, y]
  template: t
templates:
- name: t
  rego-package: no.such.package
actions:
- name: x
  type: nonsense
  enable: true
- name: y
  type: record
  enable: true
  token: $NOT_SET_ANYWHERE
  tokn: 1
`, map[string]string{"filters/bad.rego": "package postee\n\nallow if {\n  input.a ==\n}\n"})
	_, err := New(context.Background(), cfg, Options{Registry: rec.registry(), Here: func(string) bool { return true }})
	if err == nil {
		t.Fatal("bad config accepted")
	}
	file := filepath.Join(dir, "cfg.yaml")
	for _, want := range []string{
		file + `:5: routes[0] "bad-input" input: rego:`,
		filepath.Join(dir, "filters/bad.rego") + ":",
		file + `:16: actions[0] "x".type: unknown action type "nonsense" (known: record)`,
		`actions[1] "y".tokn: unknown key`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestMissingPackageAndSecrets(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `routes:
- name: r
  actions: [y]
  template: t
templates:
- name: t
  rego-package: no.such.package
actions:
- name: y
  type: record
  enable: true
  token: $NOT_SET_ANYWHERE
`, nil)
	_, err := New(context.Background(), cfg, Options{Registry: rec.registry(), LookupEnv: func(string) (string, bool) { return "", false }})
	for _, want := range []string{`rego package "no.such.package" not found`, `cfg.yaml:12: actions[0] "y".token: environment variable NOT_SET_ANYWHERE is not set`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	// The same action placed on a runner is validated without its secret.
	cfg.Actions[0].RunsOn = "runner-1"
	cfg.Templates[0].RegoPackage = ""
	cfg.Templates[0].Body = "title := 1\nresult := 2\n"
	if _, err := New(context.Background(), cfg, Options{Registry: rec.registry(), LookupEnv: func(string) (string, bool) { return "", false }}); err != nil {
		t.Fatal(err)
	}
}

func TestTemplateFromURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "package remote.t\ntitle := \"from url\"\nresult := input.msg\n")
	}))
	defer srv.Close()
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, "routes:\n- name: r\n  template: t\ntemplates:\n- name: t\n  url: "+srv.URL+"\n", nil)
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.Evaluate(context.Background(), event(t, `{"msg":"hello"}`), "")
	if err != nil || len(ms) != 1 || ms[0].Msg.Title != "from url" || ms[0].Msg.Body != "hello" {
		t.Fatalf("%v %+v", err, ms)
	}
	srv.Close()
	if _, err := New(context.Background(), cfg, Options{Registry: rec.registry()}); err == nil || !strings.Contains(err.Error(), "fetch template") {
		t.Fatalf("unreachable url: %v", err)
	}
}

func TestSerializeRetryAndPlacement(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{fail: map[string]int{"b": 1}}
	cfg := load(t, dir, `routes:
- name: serial
  serialize-actions: true
  actions: [a, b, c, remote]
  template: t
templates:
- name: t
  body: "title := input.n\nresult := \"\""
actions:
- {name: a, type: record, enable: true, delay: 20ms}
- {name: b, type: record, enable: true}
- {name: c, type: record, enable: true}
- {name: remote, type: record, enable: true, runs-on: runner-1}
- {name: off, type: record}
`, nil)
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry(), Retry: RetryPolicy{Attempts: 2, Base: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := e.Route("serial")
	if got := fmt.Sprint(e.LocalSteps(r)); got != "[{a } {b } {c }]" {
		t.Fatalf("local steps %s", got)
	}
	newPipeline(e).handle(t, event(t, `{"n":"1"}`))
	if got := strings.Join(rec.got(), ","); got != "a:serial:1,b:serial:1,c:serial:1" {
		t.Fatalf("serialized run = %s", got)
	}
}

func TestUniqueMessageProps(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `routes:
- name: once
  template: t
  plugins:
    unique-message-props: [image, Context.hostName]
    unique-message-timeout: 1h
templates:
- name: t
  body: "title := \"t\"\nresult := \"\""
`, nil)
	e, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	pl := newPipeline(e)
	pl.p = NewPlugins(PluginsOptions{Now: func() time.Time { return now }})
	count := func(js string) int {
		send, _ := pl.handle(t, event(t, js))
		return len(send)
	}
	now = time.Now()
	if count(`{"image":"a"}`) != 1 || count(`{"image":"a"}`) != 0 || count(`{"image":"b"}`) != 1 {
		t.Fatal("dedup by image failed")
	}
	// The same event handled again (after a failure) is not its own
	// duplicate.
	ev := event(t, `{"image":"c"}`)
	if s, _ := pl.handle(t, ev); len(s) != 1 {
		t.Fatal("first c")
	}
	if s, _ := pl.handle(t, ev); len(s) != 1 {
		t.Fatal("the same event handled again was taken for a duplicate")
	}
	now = now.Add(2 * time.Hour)
	if count(`{"image":"a"}`) != 1 {
		t.Fatal("dedup did not expire")
	}
}

func TestParseEvent(t *testing.T) {
	for _, bad := range []string{"", "not json", `{"a":1} {"b":2}`, `{"a":`} {
		if _, err := ParseEvent([]byte(bad), ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ev := event(t, `{"Context":{"hostName":"node-1"}}`)
	if ev.Host != "node-1" || len(ev.ID) != 32 {
		t.Fatalf("%+v", ev)
	}
	if event(t, `{"hostName":"node-2"}`).Host != "node-2" {
		t.Fatal("current tracee host")
	}
}

func TestRunsOnMustBeARunnerName(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	cfg := load(t, dir, `routes:
- {name: r, template: t, actions: [a, b, c], runs-on: "node-1.example.org"}
templates:
- {name: t, body: "title := 1\nresult := 2"}
actions:
- {name: a, type: record, enable: true, runs-on: posteed-controller}
- {name: b, type: record, enable: true, runs-on: "@origin"}
- {name: c, type: record, enable: true, runs-on: postee-runner-1}
`, nil)
	_, err := New(context.Background(), cfg, Options{Registry: rec.registry()})
	for _, want := range []string{`routes[0] "r".runs-on: runner name "node-1.example.org"`, `actions[0] "a".runs-on: runner name "posteed-controller" is reserved`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if err != nil && strings.Count(err.Error(), "runs-on") != 2 {
		t.Errorf("@origin or a valid name refused: %v", err)
	}
}
