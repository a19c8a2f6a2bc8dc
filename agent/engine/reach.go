package engine

import (
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reachableFiles lists the user's Rego files (module keys that are paths
// under the rego-templates directory) that the package pkg reaches: the
// files defining it or a package nested in it, and, transitively, every
// package they refer to, import or name as their aggregation_pkg. This is
// what a runner's config slice must carry for the template to render
// there exactly as it does here.
func reachableFiles(modules map[string]*ast.Module, pkg, dir string) []string {
	if dir == "" {
		return nil
	}
	seen := map[string]bool{}
	var files []string
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
			if strings.HasPrefix(name, dir+"/") {
				files = append(files, name)
			}
		}
	}
	sort.Strings(files)
	return files
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

// TemplateFiles lists the user's Rego files the template named name
// reaches (see reachableFiles); nil for a template not in use here.
func (e *Engine) TemplateFiles(name string) []string {
	for _, r := range e.routes {
		if r.Template == name && r.tmpl != nil {
			return r.tmpl.files
		}
	}
	return nil
}
