package bundled

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Output is what a template renders for one event, as the engine reads a
// Rego template: title, result, url and aggregation_pkg as text (a Slack
// result is its blocks as encoding/json writes them).
type Output struct {
	Title, Result, URL, AggregationPkg string
}

// Renderer renders one event with Go code that produces byte for byte what
// the bundled Rego package produces. ok is false for an event it leaves to
// the Rego (a field of a type the scanners never write, a shape whose Rego
// evaluation would fail); the caller then evaluates the package.
type Renderer func(in ast.Value) (out Output, ok bool)

// native lists the packages with a Go renderer, and the bundled packages
// each one stands for: its own and the libraries it reads.
var native = map[string]struct {
	render Renderer
	reads  []string
}{
	"postee.rawmessage.json": {rawJSON, []string{"postee.rawmessage.json", "postee.lib.raw", "postee.lib.tracee"}},
	"postee.rawmessage.html": {rawHTML, []string{"postee.rawmessage.html", "postee.lib.raw", "postee.lib.tracee", "postee.lib.text"}},
	"postee.vuls.html":       {vulsHTML, []string{"postee.vuls.html", "postee.lib.vuls", "postee.lib.text"}},
	"postee.vuls.slack":      {vulsSlack, []string{"postee.vuls.slack", "postee.lib.vuls", "postee.lib.text"}},
	"postee.trivy.jira":      {trivyJira, []string{"postee.trivy.jira", "postee.lib.vuls", "postee.lib.text"}},
	"postee.tracee.html":     {traceeHTML, []string{"postee.tracee.html", "postee.lib.tracee", "postee.lib.text"}},
	"postee.tracee.slack":    {traceeSlack, []string{"postee.tracee.slack", "postee.lib.tracee", "postee.lib.text"}},
}

// Native returns the Go renderer for the bundled package pkg, or nil when
// there is none or when the user's Rego changes what the package renders:
// userPkgs holds the packages of the user's modules (rego-templates,
// inline bodies, fetched urls), and one that is a package the renderer
// stands for, or encloses one, leaves the package to the Rego.
func Native(pkg string, userPkgs map[string]bool) Renderer {
	n, ok := native[pkg]
	if !ok {
		return nil
	}
	for user := range userPkgs {
		for _, p := range n.reads {
			if p == user || strings.HasPrefix(p, user+".") {
				return nil
			}
		}
	}
	return n.render
}
