package controller

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckOnePass: every problem of a config in one pass, sorted by
// line, each once, with no second error caused by the first.
func TestCheckOnePass(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rego-templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cfg.yaml")
	cfg := `actions:
- name: a
  type: slak
  enable: true
- name: notype
  enable: true
- name: s
  type: slack
  enable: true
  url: $POSTEED_CHECK_TEST_UNSET
templates:
- name: raw
  rego-package: postee.rawmessage.json
- name: nosource
routes:
- name: r
  input: contains(input.image,
  actions: [a, notype, s]
  template: raw
- name: r2
  actions: [missing]
  template: nosource
  colour: red
`
	tests := []struct {
		name string
		want []string // the whole output, in order
	}{
		{"every stage", []string{
			file + `:3: actions[0] "a".type: unknown action type "slak" (did you mean "slack"?`,
			file + `:5: actions[1].type: action "notype" needs a type`,
			file + `:10: actions[2] "s".url: environment variable POSTEED_CHECK_TEST_UNSET is not set`,
			file + `:14: templates[1] "nosource": give exactly one of rego-package, body, url or legacy-scan-renderer`,
			file + `:17: routes[0] "r" input: rego: unexpected`,
			file + `:21: routes "r2".actions: undefined action "missing"`,
			file + `:23: routes[1].colour: unknown key`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, _ := Check(context.Background(), file, "", []byte(cfg))
			if len(errs) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%v", len(errs), len(tt.want), errs)
			}
			for i, e := range errs {
				if i < len(tt.want) && !strings.HasPrefix(e.Error(), tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s…", i, e, tt.want[i])
				}
			}
		})
	}
}

func TestCheckValid(t *testing.T) {
	for _, f := range []string{"../etc/postee/cfg.yaml", "../testdata/configs/seed-controller-runner-mode.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if errs, _ := Check(context.Background(), f, "", data); errs != nil {
			t.Errorf("%s: %v", f, errs)
		}
	}
}

// TestCheckNotYAML: a file that is not YAML is one problem, with its line.
func TestCheckNotYAML(t *testing.T) {
	errs, _ := Check(context.Background(), "x.yaml", "", []byte("routes:\n  - name: a\n   bad: [\n"))
	if len(errs) != 1 || errs[0].Line == 0 || !strings.Contains(errs[0].Msg, "not valid YAML") {
		t.Fatalf("got %v", errs)
	}
}

// uncommentExamples turns the commented examples of the shipped cfg.yaml
// into YAML: after the routes: line, a block starts at "# - " and goes on
// while lines start with "#   "; other comments are prose.
func uncommentExamples(text string) (string, int) {
	var out []string
	inBlock, after, blocks := false, false, 0
	for _, l := range strings.Split(text, "\n") {
		after = after || l == "routes:"
		switch {
		case after && strings.HasPrefix(l, "# - "):
			inBlock = true
			blocks++
			l = l[2:]
		case inBlock && strings.HasPrefix(l, "#   "):
			l = l[2:]
		default:
			inBlock = false
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n"), blocks
}

// TestShippedExamples: every commented example of the shipped cfg.yaml is
// valid once uncommented, file: credentials included.
func TestShippedExamples(t *testing.T) {
	b, err := os.ReadFile("../etc/postee/cfg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text, blocks := uncommentExamples(string(b))
	if blocks < 12 {
		t.Fatalf("only %d commented examples found", blocks)
	}
	creds := t.TempDir()
	for _, m := range regexp.MustCompile(`file:([a-z0-9-]+)`).FindAllStringSubmatch(text, -1) {
		if err := os.WriteFile(filepath.Join(creds, m[1]), []byte("https://example.org/"+m[1]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	file := filepath.Join(t.TempDir(), "cfg.yaml")
	if errs, _ := Check(context.Background(), file, "", []byte(text)); errs != nil {
		t.Fatalf("uncommented examples:\n%v\n%s", errs, text)
	}
}
