package engine

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/template/bundled"
)

// The bundled files parsed for a template (read from their text) cover
// every bundled module the compiled closure keeps for it, from each bundled
// package and from a user module that imports a bundled library.
func TestBundledReachedCovers(t *testing.T) {
	var errs config.Errors
	all := parseBundled(bundled.Files(), &errs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	user, err := ast.ParseModuleWithOpts("mine.rego", "package mine\nimport data.postee.lib.text\ntitle := \"t\"\nresult := text.x\n", ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{"user module": {"data.mine"}}
	for _, m := range all {
		p := m.Package.Path.String()
		cases[p] = []string{p}
	}
	for name, want := range cases {
		withUser := map[string]*ast.Module{}
		if name == "user module" {
			withUser["mine.rego"] = user
		}
		full := map[string]*ast.Module{}
		for k, m := range all {
			full[k] = m
		}
		for k, m := range withUser {
			full[k] = m
		}
		reached := bundledReached(want, withUser)
		for k := range withoutUnusedBundled(full, want) {
			if f, ok := strings.CutPrefix(k, "bundled/"); ok {
				if _, in := reached[f]; !in {
					t.Errorf("%s: the closure keeps %s, the text-based reach misses it (reached %d files)", name, f, len(reached))
				}
			}
		}
		if name == "data.postee.rawmessage.json" && len(reached) >= len(all) {
			t.Errorf("raw-json reaches %d of %d bundled files: nothing was left out", len(reached), len(all))
		}
	}
}
