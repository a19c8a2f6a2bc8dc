package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedConfigsLoad(t *testing.T) {
	for _, name := range []string{"seed-controller-runner-mode.yaml", "seed-orchestration-model.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "..", "testdata", "configs", name))
			if err != nil {
				t.Fatalf("seed config rejected:\n%v", err)
			}
			if len(cfg.Routes) != 3 || len(cfg.Actions) < 3 {
				t.Fatalf("routes=%d actions=%d", len(cfg.Routes), len(cfg.Actions))
			}
		})
	}
}

func TestOlderSpellings(t *testing.T) {
	cfg, err := Parse("cfg.yaml", []byte(`
routes:
- name: r
  runs-on: postee-runner-2
  serialize-outputs: true
  outputs: [a]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
outputs:
- name: a
  type: exec
  enable: true
  runs-on: postee-runner-1
  exec-script: echo hi
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if !r.SerializeActions || r.RunsOn != "postee-runner-2" || len(r.Actions) != 1 || r.Actions[0] != "a" {
		t.Fatalf("route = %+v", r)
	}
	a := cfg.Actions[0]
	if a.RunsOn != "postee-runner-1" || !a.Enable || a.Type != "exec" {
		t.Fatalf("action = %+v", a)
	}
	var spec struct {
		Script string `yaml:"exec-script"`
	}
	if err := a.Decode("cfg.yaml")(&spec); err != nil || spec.Script != "echo hi" {
		t.Fatalf("decode: %v %+v", err, spec)
	}
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear in one error
	}{
		{"unknown top key", "routse: []\n", []string{`cfg.yaml:1: routse: unknown key (did you mean "routes"?)`}},
		{"unknown route key", "routes:\n- name: r\n  templte: t\n  template: t\ntemplates:\n- name: t\n  rego-package: x\n",
			[]string{`cfg.yaml:3: routes[0].templte: unknown key (did you mean "template"?)`}},
		{"undefined action", "routes:\n- name: r\n  actions: [nope]\n  template: t\ntemplates:\n- name: t\n  rego-package: x\n",
			[]string{`cfg.yaml:3: routes "r".actions: undefined action "nope"`}},
		{"undefined template", "routes:\n- name: r\n  template: missing\n",
			[]string{`cfg.yaml:3: routes "r".template: undefined template "missing"`}},
		{"bad duration", "routes:\n- name: r\n  template: t\n  plugins:\n    unique-message-timeout: soon\ntemplates:\n- name: t\n  rego-package: x\n",
			[]string{`cfg.yaml:5: routes[0].plugins.unique-message-timeout: "soon" is not a duration`}},
		{"template needs one source", "templates:\n- name: t\n", []string{`cfg.yaml:2: templates[0] "t": give exactly one of`}},
		{"duplicate names", "actions:\n- name: a\n  type: stdout\n- name: a\n  type: stdout\n", []string{`cfg.yaml:4: actions "a": action name used twice`}},
		{"both spellings", "actions: []\noutputs: []\n", []string{`both "actions" and "outputs"`}},
		{"not yaml", "routes: [\n", []string{"cfg.yaml:1: not valid YAML"}},
		{"several at once", "foo: 1\nbar: 2\n", []string{"cfg.yaml:1: foo", "cfg.yaml:2: bar"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(tc.yaml))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want Errors, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestActionDecodeIsStrict(t *testing.T) {
	cfg, err := Parse("cfg.yaml", []byte("actions:\n- name: a\n  type: http\n  enable: true\n  urll: x\n  timeout: 5x\n"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		URL     string   `yaml:"url"`
		Timeout Duration `yaml:"timeout"`
	}
	err = cfg.Actions[0].Decode("cfg.yaml")(&spec)
	for _, w := range []string{`cfg.yaml:5: actions[0] "a".urll: unknown key (did you mean "url"?)`, `cfg.yaml:6: actions[0] "a".timeout: "5x" is not a duration`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}

func TestDurationForms(t *testing.T) {
	cfg, err := Parse("cfg.yaml", []byte("routes:\n- name: r\n  template: t\n  plugins:\n    unique-message-timeout: 3d\n    aggregate-message-timeout: 90\ntemplates:\n- name: t\n  rego-package: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Routes[0].Plugins
	if p.UniqueMessageTimeout.D().Hours() != 72 || p.AggregateMessageTimeout.D().Seconds() != 90 {
		t.Fatalf("plugins = %+v", p)
	}
}

func TestErrorsSort(t *testing.T) {
	es := Errors{
		{File: "rego/x.rego", Line: 1, Msg: "in another file"},
		{File: "cfg.yaml", Line: 9, Key: "b", Msg: "late"},
		{File: "cfg.yaml", Line: 2, Key: "a", Msg: "early"},
		{File: "cfg.yaml", Line: 9, Key: "b", Msg: "late"},
		{File: "cfg.yaml", Msg: "whole file"},
	}
	got := es.Sort("cfg.yaml")
	want := []string{"cfg.yaml: whole file", "cfg.yaml:2: a: early", "cfg.yaml:9: b: late", "rego/x.rego:1: in another file"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
}
