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
		{"template needs one source", "routes:\n- name: r\n  template: t\ntemplates:\n- name: t\n", []string{`cfg.yaml:5: templates[0] "t": give exactly one of`}},
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
	cfg, err := Parse("cfg.yaml", []byte("routes:\n- name: r\n  template: t\n  plugins:\n    unique-message-timeout: 3d\n    aggregate-message-timeout: 90\n- name: r2\n  template: t\n  plugins:\n    unique-message-timeout: 10 m\ntemplates:\n- name: t\n  rego-package: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Routes[0].Plugins
	if p.UniqueMessageTimeout.D().Hours() != 72 || p.AggregateMessageTimeout.D().Seconds() != 90 {
		t.Fatalf("plugins = %+v", p)
	}
	if d := cfg.Routes[1].Plugins.UniqueMessageTimeout.D(); d.Minutes() != 10 { // Postee's "10 m"
		t.Fatalf("\"10 m\" = %v", d)
	}
}

// TestPosteeKeysAreWarnings: keys Postee reads and posteed does not use,
// and incomplete items no route uses, load with a warning at their line;
// the same problems on used items stay errors.
func TestPosteeKeysAreWarnings(t *testing.T) {
	tests := []struct {
		name, yaml string
		warn       []string // each must be one warning's text
		err        string   // "" when the config must load
	}{
		{"instance settings", "aqua-server: https://aqua\nmax-db-size: 1GB\ndb-verify-interval: 1\ndelete-old-data: 3\n", []string{
			"cfg.yaml:1: aqua-server: used only by templates from rego-templates, as input.postee.AquaServer",
			"cfg.yaml:2: max-db-size: accepted for Postee compatibility, not used: ",
			"cfg.yaml:3: db-verify-interval: accepted for Postee compatibility, not used: ",
			"cfg.yaml:4: delete-old-data: accepted for Postee compatibility, not used: ",
		}, ""},
		{"rules with ids", "rules:\n- name: Initial Access\n  id: TA0001\n", []string{"cfg.yaml:1: rules: accepted for Postee compatibility, not used: "}, ""},
		{"rule key still strict", "rules:\n- name: a\n  idd: 1\n", nil, `cfg.yaml:3: rules[0].idd: unknown key (did you mean "id"?)`},
		{"plugin seconds", "routes:\n- name: r\n  template: t\n  plugins:\n    aggregate-timeout-seconds: 60\ntemplates:\n- name: t\n  rego-package: x\n",
			[]string{"cfg.yaml:5: routes[0].plugins.aggregate-timeout-seconds: accepted for Postee compatibility, not used: "}, ""},
		{"unused incomplete template", "templates:\n- name: from-web\n  url:\n",
			[]string{`cfg.yaml:2: templates[0] "from-web": give exactly one of rego-package, body, url or legacy-scan-renderer (a warning: no route uses this template)`}, ""},
		{"used incomplete template", "routes:\n- name: r\n  template: from-web\ntemplates:\n- name: from-web\n  url:\n", nil,
			`cfg.yaml:5: templates[0] "from-web": give exactly one of`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("cfg.yaml", []byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != len(tc.warn) {
				t.Fatalf("warnings:\n%v\nwant %d", cfg.Warnings, len(tc.warn))
			}
			for i, w := range tc.warn {
				if got := cfg.Warnings[i].Error(); !strings.HasPrefix(got, w) {
					t.Errorf("warning %d = %q, want prefix %q", i, got, w)
				}
			}
		})
	}
}

// TestActionKeysPosteeAccepts: Postee decodes every action into one
// struct, so any of its keys is accepted on any action type: a warning when
// the type does not use it; a key Postee does not know stays an error.
func TestActionKeysPosteeAccepts(t *testing.T) {
	cfg, err := Parse("cfg.yaml", []byte("actions:\n- name: s\n  type: splunk\n  enable: true\n  url: http://x\n  tls-verify: false\n  project-key: X\n  tls-verfy: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		URL string `yaml:"url"`
	}
	a := &cfg.Actions[0]
	err = a.Decode("cfg.yaml")(&spec)
	if err == nil || !strings.Contains(err.Error(), `cfg.yaml:8: actions[0] "s".tls-verfy: unknown key`) || spec.URL != "http://x" {
		t.Fatalf("decode: %v %+v", err, spec)
	}
	want := []string{
		`cfg.yaml:6: actions[0] "s".tls-verify: accepted for Postee compatibility, not used: Postee's splunk turned TLS verification off`,
		`cfg.yaml:7: actions[0] "s".project-key: accepted for Postee compatibility, not used: Postee reads every action key`,
	}
	if len(a.Warnings) != len(want) {
		t.Fatalf("warnings %v", a.Warnings)
	}
	for i, w := range want {
		if !strings.HasPrefix(a.Warnings[i].Error(), w) {
			t.Errorf("warning %q, want prefix %q", a.Warnings[i], w)
		}
	}
}

// TestTypeKeysPosteeUsed: keys Postee's action of the same type used
// and ours does not are warnings that say what Postee did with them.
func TestTypeKeysPosteeUsed(t *testing.T) {
	cfg, err := Parse("cfg.yaml", []byte(`actions:
- name: j
  type: jira
  enable: true
  url: https://jira.example
  board: SEC board
  sprint: current
- name: p
  type: pagerduty
  enable: true
  pagerduty-auth-token: rest-api-token
  pagerduty-routing-key: k
`))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		URL        string `yaml:"url"`
		RoutingKey string `yaml:"pagerduty-routing-key"`
	}
	want := map[string][]string{
		"j": {
			`cfg.yaml:6: actions[0] "j".board: accepted for Postee compatibility, not used: Postee's jira put issues into the board's active sprint`,
			`cfg.yaml:7: actions[0] "j".sprint: accepted for Postee compatibility, not used: Postee's jira put issues into the board's active sprint`,
		},
		"p": {`cfg.yaml:11: actions[1] "p".pagerduty-auth-token: accepted for Postee compatibility, not used: Postee's pagerduty required this REST API token`},
	}
	for i := range cfg.Actions {
		a := &cfg.Actions[i]
		if err := a.Decode("cfg.yaml")(&spec); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if len(a.Warnings) != len(want[a.Name]) {
			t.Fatalf("%s: warnings %v", a.Name, a.Warnings)
		}
		for j, w := range want[a.Name] {
			if got := a.Warnings[j].Error(); !strings.HasPrefix(got, w) {
				t.Errorf("warning %q, want prefix %q", got, w)
			}
		}
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
