package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/template/bundled"
)

// template is one compiled template: a prepared query for its package,
// and the package's Go renderer when it is a bundled one the user left as
// it is (the query renders what the renderer leaves).
type template struct {
	name   string
	pkg    string
	query  rego.PreparedEvalQuery
	c      *ast.Compiler // holds every template module, for aggregation packages
	native bundled.Renderer
}

// rendered is a template's output for one event.
type rendered struct {
	Title, Body, URL, AggregationPkg string
}

// legacyRenderers maps Postee's legacy-scan-renderer values to our packages.
var legacyRenderers = map[string]string{
	"html":  "postee.vuls.html",
	"slack": "postee.vuls.slack",
	"jira":  "postee.trivy.jira",
}

// templateSet compiles every template of cfg against one compiler holding
// the bundled packages, the user's rego-templates directory, inline bodies
// and fetched URLs. Only templates in use are prepared.
func compileTemplates(ctx context.Context, cfg *config.Config, dir string, fetch *http.Client, used map[string]bool) (map[string]*template, config.Errors) {
	modules := map[string]*ast.Module{}
	var errs config.Errors
	for name, src := range bundled.Files() {
		m, err := ast.ParseModuleWithOpts("bundled/"+name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, &config.Error{File: "bundled/" + name, Msg: "internal: " + err.Error()})
			continue
		}
		modules["bundled/"+name] = m
	}
	errs = append(errs, loadTemplateDir(dir, modules)...)
	pkgs := map[string]string{} // template name → package
	for i, t := range cfg.Templates {
		key := fmt.Sprintf("templates[%d] %q", i, t.Name)
		switch {
		case t.RegoPackage != "":
			pkgs[t.Name] = t.RegoPackage
		case t.LegacyScanRenderer != "":
			p, ok := legacyRenderers[t.LegacyScanRenderer]
			if !ok {
				errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key + ".legacy-scan-renderer", Msg: fmt.Sprintf("unknown renderer %q (use html, slack or jira)", t.LegacyScanRenderer)})
				continue
			}
			pkgs[t.Name] = p
		case t.Body != "":
			m, err := inlineTemplate(cfg.File, i, t, t.Body, func(row int) int { return t.BodyLine + row - 1 })
			if err != nil {
				errs = append(errs, err...)
				continue
			}
			modules[fmt.Sprintf("template-%d-body", i)] = m
			pkgs[t.Name] = strings.TrimPrefix(m.Package.Path.String(), "data.")
		case t.URL != "":
			src, err := fetchTemplate(ctx, fetch, t.URL)
			if err != nil {
				errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key + ".url", Msg: err.Error()})
				continue
			}
			m, errs2 := inlineTemplate(t.URL, i, t, src, nil)
			if errs2 != nil {
				errs = append(errs, errs2...)
				continue
			}
			modules[fmt.Sprintf("template-%d-url", i)] = m
			pkgs[t.Name] = strings.TrimPrefix(m.Package.Path.String(), "data.")
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var want []string
	for name, pkg := range pkgs {
		if used[name] {
			want = append(want, "data."+pkg)
		}
	}
	modules = withoutUnusedBundled(modules, want)
	c := ast.NewCompiler()
	if c.Compile(modules); c.Failed() {
		return nil, compileErrors(cfg, c.Errors)
	}
	out := map[string]*template{}
	for i, t := range cfg.Templates {
		pkg := pkgs[t.Name]
		if !used[t.Name] {
			continue
		}
		key := fmt.Sprintf("templates[%d] %q", i, t.Name)
		if !hasPackage(modules, pkg) {
			errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key, Msg: fmt.Sprintf("rego package %q not found among the bundled templates or in %s", pkg, dir)})
			continue
		}
		ref, err := pkgRef(pkg)
		if err != nil {
			errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key, Msg: err.Error()})
			continue
		}
		pq, err := rego.New(rego.ParsedQuery(renderQuery(ref)), rego.Compiler(c)).PrepareForEval(ctx)
		if err != nil {
			errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key, Msg: err.Error()})
			continue
		}
		out[t.Name] = &template{name: t.Name, pkg: pkg, query: pq, c: c, native: nativeRenderer(pkg, modules)}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// withoutUnusedBundled drops the bundled modules nothing in use refers to:
// every engine (a runner's holds one or two templates) would otherwise keep
// all of them compiled, megabytes of a runner's memory. Kept: the user's
// modules, and the bundled ones reached from them or from the templates in
// use, by reference (data.postee.lib...), by package nesting (an
// aggregation package under its template's) or by name in a string
// (aggregation_pkg := "postee.vuls.slack.trivy.aggregation").
func withoutUnusedBundled(modules map[string]*ast.Module, want []string) map[string]*ast.Module {
	keep := map[string]*ast.Module{}
	var pending []string
	add := func(name string, m *ast.Module) {
		keep[name] = m
		pending = append(pending, refsOf(m)...)
	}
	for name, m := range modules {
		if !strings.HasPrefix(name, "bundled/") {
			add(name, m)
		}
	}
	pending = append(pending, want...)
	for len(pending) > 0 {
		ref := pending[0]
		pending = pending[1:]
		for name, m := range modules {
			if _, ok := keep[name]; ok {
				continue
			}
			pkg := m.Package.Path.String()
			if ref == pkg || strings.HasPrefix(ref, pkg+".") || strings.HasPrefix(pkg, ref+".") {
				add(name, m)
			}
		}
	}
	return keep
}

// refsOf lists what a module may reach: its data references, and strings
// that name a package.
func refsOf(m *ast.Module) []string {
	var out []string
	ast.WalkTerms(m, func(t *ast.Term) bool {
		switch v := t.Value.(type) {
		case ast.Ref:
			if v.HasPrefix(ast.DefaultRootRef) {
				out = append(out, v.ConstantPrefix().String())
			}
		case ast.String:
			if s := string(v); strings.HasPrefix(s, "postee.") && !strings.ContainsAny(s, " /:") {
				out = append(out, "data."+s)
			}
		}
		return false
	})
	for _, imp := range m.Imports {
		if r, ok := imp.Path.Value.(ast.Ref); ok && r.HasPrefix(ast.DefaultRootRef) {
			out = append(out, r.String())
		}
	}
	return out
}

// renderQuery asks for the four documents a template may define, and only
// those: evaluating the whole package would also evaluate its helper rules
// and sub-packages (the bundled aggregation packages live under each
// template's package). url and aggregation_pkg are optional, hence the
// comprehensions.
func renderQuery(pkg ast.Ref) ast.Body {
	rule := func(name string) *ast.Term { return ast.NewTerm(pkg.Append(ast.StringTerm(name))) }
	optional := func(name string) *ast.Term {
		x := ast.VarTerm("x")
		return ast.ArrayComprehensionTerm(x, ast.NewBody(ast.Assign.Expr(x, rule(name))))
	}
	return ast.NewBody(
		ast.Assign.Expr(ast.VarTerm("__title"), rule("title")),
		ast.Assign.Expr(ast.VarTerm("__result"), rule("result")),
		ast.Assign.Expr(ast.VarTerm("__url"), optional("url")),
		ast.Assign.Expr(ast.VarTerm("__agg"), optional("aggregation_pkg")),
	)
}

// nativeRenderer is the Go renderer of the bundled package pkg, unless a
// module of the user's (rego-templates, inline body, url) changes what it
// renders; see bundled.Native.
func nativeRenderer(pkg string, modules map[string]*ast.Module) bundled.Renderer {
	user := map[string]bool{}
	for name, m := range modules {
		if !strings.HasPrefix(name, "bundled/") {
			user[strings.TrimPrefix(m.Package.Path.String(), "data.")] = true
		}
	}
	return bundled.Native(pkg, user)
}

func hasPackage(modules map[string]*ast.Module, pkg string) bool {
	want := "data." + pkg
	for _, m := range modules {
		if p := m.Package.Path.String(); p == want || strings.HasPrefix(p, want+".") {
			return true
		}
	}
	return false
}

// loadTemplateDir parses every .rego file under dir (recursively), as
// Postee's rego-templates directory; a missing directory is fine.
func loadTemplateDir(dir string, modules map[string]*ast.Module) config.Errors {
	var errs config.Errors
	if dir == "" {
		return nil
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := parseModule(path, string(src))
		if err != nil {
			errs = append(errs, regoErrors(err, path, "", nil)...)
			return nil
		}
		modules[path] = m
		return nil
	})
	if err != nil {
		errs = append(errs, &config.Error{File: dir, Msg: err.Error()})
	}
	return errs
}

// inlineTemplate parses a template's body or fetched source. Without a
// package line it gets its own package, posteed.inline.tN.
func inlineTemplate(file string, i int, t config.Template, src string, shift func(int) int) (*ast.Module, config.Errors) {
	key := fmt.Sprintf("templates[%d] %q", i, t.Name)
	if !strings.HasPrefix(strings.TrimSpace(stripComments(src)), "package ") {
		src = fmt.Sprintf("package posteed.inline.t%d\n", i) + src
		if shift != nil {
			orig := shift
			shift = func(row int) int { return orig(row - 1) }
		}
	}
	m, err := parseModule(file, src)
	if err != nil {
		return nil, regoErrors(err, file, key, shift)
	}
	return m, nil
}

func stripComments(src string) string {
	var b strings.Builder
	for _, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func fetchTemplate(ctx context.Context, c *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("bad template url: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch template: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch template: server answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("fetch template: %w", err)
	}
	return string(b), nil
}

// render renders the template for one event: with its Go renderer when
// it has one that takes the event, else by evaluating its package.
func (t *template) render(ctx context.Context, in ast.Value) (rendered, error) {
	if t.native != nil {
		if out, ok := t.native(in); ok {
			return rendered{Title: out.Title, Body: out.Result, URL: out.URL, AggregationPkg: out.AggregationPkg}, nil
		}
	}
	return t.evaluate(ctx, in)
}

// evaluate renders by evaluating the template's Rego package.
func (t *template) evaluate(ctx context.Context, in ast.Value) (rendered, error) {
	rs, err := t.query.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return rendered{}, fmt.Errorf("template %q: %w", t.name, err)
	}
	if len(rs) == 0 {
		return rendered{}, fmt.Errorf("template %q: package %s defines no title and result for this event", t.name, t.pkg)
	}
	b := rs[0].Bindings
	return rendered{
		Title:          text(b["__title"]),
		Body:           text(b["__result"]),
		URL:            text(first(b["__url"])),
		AggregationPkg: text(first(b["__agg"])),
	}, nil
}

func first(v any) any {
	if list, ok := v.([]any); ok && len(list) > 0 {
		return list[0]
	}
	return nil
}

// text renders a template value: strings as they are, anything else as JSON
// (a Slack template's result is a list of blocks).
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}
