package engine

import (
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reachableModules lists the user's modules (all but the bundled: files
// of rego-templates, inline bodies, fetched urls) that the package pkg
// reaches: the modules defining it or a package nested in it, and,
// transitively, every package they refer to, import or name as their
// aggregation_pkg. This is what a runner's config slice must carry for the
// template to render there exactly as it does here.
func reachableModules(modules map[string]*ast.Module, pkg string) []string {
	seen := map[string]bool{}
	var out []string
	pending := []string{"data." + pkg}
	for len(pending) > 0 {
		ref := pending[0]
		pending = pending[1:]
		for name, m := range modules {
			if seen[name] || !relates(ref, m.Package.Path.String()) {
				continue
			}
			seen[name] = true
			pending = append(pending, refsOf(m)...)
			pending = append(pending, aggregationPkgs(m)...)
			if !strings.HasPrefix(name, "bundled/") {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// relates reports whether a reference to ref may read package pkg: the
// same package, a rule inside it, or a package nested under the reference.
// A dynamic reference (data[x]) reaches everything.
func relates(ref, pkg string) bool {
	return ref == "data" || ref == pkg || strings.HasPrefix(ref, pkg+".") || strings.HasPrefix(pkg, ref+".") ||
		strings.HasPrefix(ref, pkg+"[")
}

// aggregationPkgs lists the packages a module names as aggregation_pkg.
func aggregationPkgs(m *ast.Module) []string {
	var out []string
	for _, r := range m.Rules {
		if r.Head.Name.String() != "aggregation_pkg" && r.Head.Ref().String() != "aggregation_pkg" {
			continue
		}
		ast.WalkTerms(r, func(t *ast.Term) bool {
			if s, ok := t.Value.(ast.String); ok && s != "" && !strings.ContainsAny(string(s), " /:") {
				out = append(out, "data."+string(s))
			}
			return false
		})
	}
	return out
}
