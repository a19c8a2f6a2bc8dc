package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/template/bundled"
)

// template is one compiled template: a prepared query for its package,
// and the package's Go renderer when it is a bundled one the user left as
// it is (the query renders what the renderer leaves).
type template struct {
	name   string
	pkg    string
	query  preparedQuery
	c      *ast.Compiler // holds every template module, for aggregation packages
	native bundled.Renderer
	// postee is set on the user's templates when cfg.yaml has aqua-server:
	// Postee gave its templates input.postee = {"AquaServer": ...}.
	postee *ast.Term

	// own is its body or url module as compiled (Module "" when its
	// package is in rego-templates or bundled); reached, every other module
	// of the user's it reaches (see reachableModules).
	own     Source
	reached []Source
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

// compileTemplates compiles every template of cfg against one compiler
// holding the bundled packages, the user's rego-templates directory (whose
// packages replace bundled ones of the same name), inline bodies and
// fetched URLs. Only templates in use are prepared, checked for title and
// result rules, and rendered once on each sample event; problems of unused
// templates are warnings.
func compileTemplates(ctx context.Context, cfg *config.Config, dir string, fetch *http.Client, used map[string]bool, log *slog.Logger) (map[string]*template, config.Errors, config.Errors) {
	modules := map[string]*ast.Module{}
	var errs, warns config.Errors
	user := map[string]*ast.Module{}
	texts := map[string]string{} // the user's modules: the text compiled
	errs = append(errs, loadTemplateDir(dir, user, texts)...)
	maps.Copy(modules, user)
	pkgs := map[string]string{} // template name → package
	owns := map[string]string{} // template name → its body or url module
	locs := locations{}
	for i, t := range cfg.Templates {
		pkg, ms, problems := templateSource(ctx, cfg, i, t, fetch, used[t.Name], locs, texts)
		if !used[t.Name] {
			warns = append(warns, config.AsUnused(problems, "template")...)
			continue
		}
		errs = append(errs, problems...)
		maps.Copy(modules, ms)
		for name := range ms {
			owns[t.Name] = name
		}
		if pkg != "" {
			pkgs[t.Name] = pkg
		}
	}
	if len(errs) > 0 {
		return nil, warns, errs
	}
	var want []string
	for name, pkg := range pkgs {
		if used[name] {
			want = append(want, "data."+pkg)
		}
	}
	// Only the bundled packages the templates may reach are parsed: all of
	// them were 1.7 MiB of a runner's idle memory, left in the heap by
	// parsing modules nothing used.
	ours := parseBundled(bundledReached(want, modules), &errs)
	// overridden: bundled packages the user's replace. Whatever stands for
	// a bundled package's Rego (a native renderer) must not be used for a
	// template whose package, or a package it reaches, is in here.
	overridden := overrideBundled(ours, user)
	for pkg, file := range overridden {
		log.Info("bundled template package replaced by rego-templates", "package", pkg, "file", file)
	}
	maps.Copy(modules, ours)
	if len(errs) > 0 {
		return nil, warns, errs
	}
	modules = withoutUnusedBundled(modules, want)
	c := ast.NewCompiler().WithCapabilities(templateCapabilities())
	if c.Compile(modules); c.Failed() {
		return nil, warns, locs.errors(cfg, c.Errors)
	}
	out := map[string]*template{}
	samples := sampleValues()
	for i, t := range cfg.Templates {
		pkg, ok := pkgs[t.Name]
		if !used[t.Name] || !ok {
			continue // !ok: no source given, which the config reports
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
		if missing := missingRules(c, ref); missing != "" {
			errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key, Msg: fmt.Sprintf("package %s defines no %s rule: a template needs title and result", pkg, missing)})
			continue
		}
		pq, err := templateQuery(renderQuery(ref), c)
		if err != nil {
			errs = append(errs, &config.Error{File: cfg.File, Line: t.Line, Key: key, Msg: err.Error()})
			continue
		}
		tm := &template{name: t.Name, pkg: pkg, query: pq, c: c, native: nativeRenderer(pkg, modules)}
		tm.own, tm.reached = templateSources(reachableModules(modules, pkg), owns[t.Name], texts, dir)
		if cfg.AquaServer != "" && userPackage(modules, pkg) {
			tm.postee = posteeOptions(cfg.AquaServer)
		}
		w, e := tm.check(ctx, samples, locs, cfg.File, t.Line, key)
		warns, errs = append(warns, w...), append(errs, e...)
		out[t.Name] = tm
	}
	if len(errs) > 0 {
		return nil, warns, errs
	}
	return out, warns, nil
}

// overrideBundled drops the bundled modules whose package a module of the
// user's rego-templates directory declares, so the user's package replaces
// ours instead of merging with it (two `result` rules would conflict on
// every event). This is how Postee users customise a template: edit
// postee.vuls.html in their rego-templates. It returns each replaced
// package with the user's file; a native renderer that stands for a
// bundled package must not be used for a package in this set.
func overrideBundled(bundledModules, user map[string]*ast.Module) map[string]string {
	mine := map[string]string{} // package → user file
	for file, m := range user {
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		if prev, ok := mine[pkg]; !ok || file < prev {
			mine[pkg] = file
		}
	}
	replaced := map[string]string{}
	for name, m := range bundledModules {
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		if file, ok := mine[pkg]; ok {
			delete(bundledModules, name)
			replaced[pkg] = file
		}
	}
	return replaced
}

// templateSource resolves template i to its package and the modules it
// adds (inline body, fetched url), whose text it records in texts. An
// unused template is only parsed: its url is not fetched.
func templateSource(ctx context.Context, cfg *config.Config, i int, t config.Template, fetch *http.Client, used bool, locs locations, texts map[string]string) (string, map[string]*ast.Module, config.Errors) {
	key := fmt.Sprintf("templates[%d] %q", i, t.Name)
	switch {
	case t.RegoPackage != "":
		return t.RegoPackage, nil, nil
	case t.LegacyScanRenderer != "":
		p, ok := legacyRenderers[t.LegacyScanRenderer]
		if !ok {
			return "", nil, config.Errors{{File: cfg.File, Line: t.Line, Key: key + ".legacy-scan-renderer", Msg: fmt.Sprintf("unknown renderer %q (use html, slack or jira)", t.LegacyScanRenderer)}}
		}
		return p, nil, nil
	case t.Body != "":
		name := fmt.Sprintf("%s#templates[%d].body", cfg.File, i)
		locs[name] = location{file: cfg.File, key: key, shift: func(row int) int { return t.BodyLine + row - 1 }}
		m, text, err := inlineTemplate(name, i, t.Body, locs)
		if err != nil {
			return "", nil, err
		}
		texts[name] = text
		return strings.TrimPrefix(m.Package.Path.String(), "data."), map[string]*ast.Module{name: m}, nil
	case t.URL != "" && used:
		src, err := fetchTemplate(ctx, fetch, t.URL)
		if err != nil {
			return "", nil, config.Errors{{File: cfg.File, Line: t.Line, Key: key + ".url", Msg: err.Error()}}
		}
		locs[t.URL] = location{file: t.URL, key: key}
		m, text, errs := inlineTemplate(t.URL, i, src, locs)
		if errs != nil {
			return "", nil, errs
		}
		texts[t.URL] = text
		return strings.TrimPrefix(m.Package.Path.String(), "data."), map[string]*ast.Module{t.URL: m}, nil
	}
	return "", nil, nil
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

// bundledReached names the bundled files that the packages in want, and
// the refs of the modules given, may reach: the same closure as
// withoutUnusedBundled, taken from each file's text (bundledRefs) so that
// files no template reaches are not parsed at all. It may name more files
// than withoutUnusedBundled keeps, never fewer (TestBundledReachedCovers).
func bundledReached(want []string, modules map[string]*ast.Module) map[string]string {
	files := bundled.Files()
	pending := slices.Clone(want)
	for _, m := range modules {
		pending = append(pending, refsOf(m)...)
	}
	pkgs := map[string]string{} // file → its package, as data.x.y
	for name, src := range files {
		pkgs[name] = bundledPackage(src)
	}
	keep := map[string]string{}
	for len(pending) > 0 {
		ref := pending[0]
		pending = pending[1:]
		for name, pkg := range pkgs {
			if _, ok := keep[name]; ok || pkg == "" {
				continue
			}
			if ref == pkg || strings.HasPrefix(ref, pkg+".") || strings.HasPrefix(pkg, ref+".") {
				keep[name] = files[name]
				pending = append(pending, bundledRefs(files[name])...)
			}
		}
	}
	return keep
}

// parseBundled parses the bundled files given, by module name.
func parseBundled(files map[string]string, errs *config.Errors) map[string]*ast.Module {
	out := map[string]*ast.Module{}
	for name, src := range files {
		m, err := ast.ParseModuleWithOpts("bundled/"+name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			*errs = append(*errs, &config.Error{File: "bundled/" + name, Msg: "internal: " + err.Error()})
			continue
		}
		out["bundled/"+name] = m
	}
	return out
}

// bundledPackage is the package a bundled file declares, as data.x.y.
func bundledPackage(src string) string {
	for line := range strings.Lines(src) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "package "); ok {
			return "data." + strings.TrimSpace(p)
		}
	}
	return ""
}

// bundledRefs is what refsOf finds in a bundled file, read from its text:
// every data.x.y path outside comments and strings (imports included) and
// every string "postee.x.y".
func bundledRefs(src string) []string {
	ident := func(c byte) bool {
		return c == '_' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	var out []string
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '#': // a comment, to the end of the line
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '`': // a raw string
			if j := strings.IndexByte(src[i+1:], '`'); j >= 0 {
				i += j + 1
			}
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if str := src[min(i+1, len(src)):min(j, len(src))]; strings.HasPrefix(str, "postee.") && !strings.ContainsAny(str, " /:\\") {
				out = append(out, "data."+str)
			}
			i = j
		case strings.HasPrefix(src[i:], "data.") && (i == 0 || !ident(src[i-1])):
			j := i + len("data.")
			for j < len(src) && ident(src[j]) {
				j++
			}
			out = append(out, strings.TrimRight(src[i:j], "."))
			i = j - 1
		}
	}
	return out
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

// userPackage reports whether pkg is the user's (rego-templates, an inline
// body or a url) rather than bundled.
func userPackage(modules map[string]*ast.Module, pkg string) bool {
	want := "data." + pkg
	for name, m := range modules {
		if !strings.HasPrefix(name, "bundled/") && m.Package.Path.String() == want {
			return true
		}
	}
	return false
}

// posteeOptions is what Postee added to every event as input.postee: the
// Aqua console's image page, for links.
func posteeOptions(aquaServer string) *ast.Term {
	if !strings.HasSuffix(aquaServer, "/") {
		aquaServer += "/"
	}
	return ast.ObjectTerm(ast.Item(ast.StringTerm("AquaServer"), ast.StringTerm(aquaServer+"#/images/")))
}

// withPostee is the event object with input.postee set; the event's own
// terms are shared, not copied. Other values stay as they are.
func withPostee(in ast.Value, postee *ast.Term) ast.Value {
	obj, ok := in.(ast.Object)
	if !ok {
		return in
	}
	key := ast.StringTerm("postee")
	out := ast.NewObject()
	obj.Foreach(func(k, v *ast.Term) {
		if !k.Equal(key) {
			out.Insert(k, v)
		}
	})
	out.Insert(key, postee)
	return out
}

// nativeRenderer is the Go renderer of the bundled package pkg, unless a
// module of the user's (rego-templates, inline body, url) changes what it
// renders; see bundled.Native. A bundled package the user's rego-templates
// replaced (overrideBundled) is the user's, so it never has one.
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
// Postee's rego-templates directory, and records each file's text in
// texts; a missing directory is fine.
func loadTemplateDir(dir string, modules map[string]*ast.Module, texts map[string]string) config.Errors {
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
		modules[path], texts[path] = m, string(src)
		return nil
	})
	if err != nil {
		errs = append(errs, &config.Error{File: dir, Msg: err.Error()})
	}
	return errs
}

// inlineTemplate parses a template's body or fetched source, known to the
// parser as name (locs says where its rows are), and returns the text it
// parsed. Without a package line it gets its own package, posteed.inline.tN.
func inlineTemplate(name string, i int, src string, locs locations) (*ast.Module, string, config.Errors) {
	if !strings.HasPrefix(strings.TrimSpace(stripComments(src)), "package ") {
		src = fmt.Sprintf("package posteed.inline.t%d\n", i) + src
		loc := locs[name]
		orig := loc.shift
		if orig == nil {
			orig = func(row int) int { return row }
		}
		loc.shift = func(row int) int { return orig(row - 1) }
		locs[name] = loc
	}
	m, err := parseModule(name, src)
	if err != nil {
		return nil, "", locs.errors(nil, err)
	}
	return m, src, nil
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
	if t.postee != nil {
		in = withPostee(in, t.postee)
	}
	rs, err := t.query.Eval(ctx, in)
	if err != nil {
		return rendered{}, fmt.Errorf("template %q: %w", t.name, err)
	}
	if len(rs) == 0 {
		return rendered{}, fmt.Errorf("template %q: package %s %w", t.name, t.pkg, errNoResult)
	}
	b := rs[0].Bindings
	return rendered{
		Title:          text(b["__title"]),
		Body:           text(b["__result"]),
		URL:            str(first(b["__url"])), // as Postee: a url that is not a string is none
		AggregationPkg: text(first(b["__agg"])),
	}, nil
}

func first(v any) any {
	if list, ok := v.([]any); ok && len(list) > 0 {
		return list[0]
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
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
