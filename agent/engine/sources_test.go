package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSourcesAreWhatWasCompiled: the sources a template and a route filter
// reach are the texts compiled, whatever the files hold afterwards; a body
// without a package line comes with the one it was given.
func TestSourcesAreWhatWasCompiled(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir, `
routes:
- {name: file, template: f, input-files: [allow.rego]}
- {name: body, template: b}
templates:
- {name: f, rego-package: custom.f}
- name: b
  body: |
    title := "b"
    result := "b"
`, map[string]string{
		"allow.rego":                    "package postee\nallow { input.x == 1 }\n",
		"rego-templates/f.rego":         "package custom.f\nimport data.lib\ntitle := lib.t\nresult := \"r\"\n",
		"rego-templates/lib/lib.rego":   "package lib\nt := \"t\"\n",
		"rego-templates/unrelated.rego": "package other\nx := 1\n",
	})
	e, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, name := range []string{"allow.rego", "rego-templates/f.rego", "rego-templates/lib/lib.rego"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("edited"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	own, reached, ok := e.TemplateSources("f")
	var rels []string
	for _, s := range reached {
		rels = append(rels, s.Rel)
		if s.Text == "edited" {
			t.Errorf("%s: the text on disk, not the one compiled", s.Module)
		}
	}
	if !ok || own.Module != "" || !slices.Equal(rels, []string{"f.rego", "lib/lib.rego"}) {
		t.Errorf("template f: own %+v, reached %v", own, rels)
	}
	own, reached, _ = e.TemplateSources("b")
	if own.Text != "package posteed.inline.t1\ntitle := \"b\"\nresult := \"b\"\n" || own.Rel != "" || len(reached) != 0 {
		t.Errorf("template b: own %+v, reached %+v", own, reached)
	}
	if in := e.InputSources(0); len(in) != 1 || in[0].Text != "package postee\nallow { input.x == 1 }\n" {
		t.Errorf("route input-files: %+v", in)
	}
}
