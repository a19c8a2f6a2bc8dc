package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/postee-fleet/posteed/agent/config"
)

// filters evaluates every route's input in one Rego query: each route with
// an input becomes a package posteed.routes.rN with an `allow` rule, and one
// generated rule collects the indexes of the routes that allow the event.
// One evaluation per event, however many routes there are. Inputs Go
// evaluates as Rego would (nativefilter.go) are left out of the query.
type filters struct {
	query    preparedQuery
	matchAll []int         // routes without input, matching every event
	native   []nativeRoute // routes whose input Go evaluates
	any      bool          // at least one route's filter is in the query

	// inputs are the routes' input-files as compiled, by route index.
	inputs map[int][]Source
}

// matchQuery binds matched to the indexes of the routes that match.
var matchQuery = ast.MustParseBody("matched = data.posteed.match.matched")

func compileFilters(ctx context.Context, cfg *config.Config) (*filters, config.Errors) {
	var errs config.Errors
	modules := map[string]*ast.Module{}
	var collect strings.Builder
	collect.WriteString("package posteed.match\n\n")
	f := &filters{inputs: map[int][]Source{}}
	for i, r := range cfg.Routes {
		var conds []string
		if strings.TrimSpace(r.Input) != "" {
			m, err := inputModule(cfg.File, i, r)
			if err != nil {
				errs = append(errs, err...)
				continue
			}
			modules[fmt.Sprintf("route-%d-input", i)] = m // compiled even when native: the same errors
			if nf, ok := newNativeFilter(m); ok && len(r.InputFiles) == 0 {
				f.native = append(f.native, nativeRoute{index: i, filter: nf})
				continue
			}
			conds = append(conds, fmt.Sprintf("data.posteed.routes.r%d.allow", i))
		}
		if len(r.InputFiles) > 0 {
			ms, srcs, err := inputFileModules(cfg, i, r)
			if err != nil {
				errs = append(errs, err...)
				continue
			}
			f.inputs[i] = srcs
			for name, m := range ms {
				modules[name] = m
			}
			conds = append(conds, fmt.Sprintf("data.posteed.inputs.r%d.allow", i))
		}
		if len(conds) == 0 {
			f.matchAll = append(f.matchAll, i)
			continue
		}
		fmt.Fprintf(&collect, "matched contains %d if {\n\t%s\n}\n\n", i, strings.Join(conds, "\n\t"))
		f.any = true
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(modules) == 0 {
		return f, nil
	}
	m, err := ast.ParseModuleWithOpts("posteed-match.rego", collect.String(), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, config.Errors{{File: cfg.File, Msg: "internal: generated route query: " + err.Error()}}
	}
	modules["posteed-match.rego"] = m
	c := ast.NewCompiler()
	if c.Compile(modules); c.Failed() {
		return nil, compileErrors(cfg, c.Errors)
	}
	pq, err := prepareQuery(c, matchQuery, nil)
	if err != nil {
		return nil, config.Errors{{File: cfg.File, Msg: "prepare route filters: " + err.Error()}}
	}
	f.query = pq
	return f, nil
}

// inputModule wraps a route's inline input (one expression per line, all of
// which must hold) in its own package, trying Rego v1 then v0 syntax.
func inputModule(file string, i int, r config.Route) (*ast.Module, config.Errors) {
	pkg := fmt.Sprintf("package posteed.routes.r%d\n\n", i)
	body := indent(r.Input)
	key := fmt.Sprintf("routes[%d] %q input", i, r.Name)
	last := r.InputLine + strings.Count(strings.TrimRight(r.Input, "\n"), "\n")
	// The input starts on row 4 of the generated module; an error at the
	// closing brace belongs to the input's last line.
	shift := func(row int) int { return min(max(r.InputLine+row-4, r.InputLine), last) }
	m, err := ast.ParseModuleWithOpts(file, pkg+"allow if {\n"+body+"\n}\n", ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err == nil {
		return m, nil
	}
	if m0, err0 := ast.ParseModuleWithOpts(file, pkg+"allow {\n"+body+"\n}\n", ast.ParserOptions{RegoVersion: ast.RegoV0}); err0 == nil {
		return m0, nil
	}
	return nil, regoErrors(err, file, key, shift)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "\t" + l
	}
	return strings.Join(lines, "\n")
}

// inputFileModules loads a route's input-files (Postee: `package postee`
// with an `allow` rule; several files are ORed) into the route's own package
// so that files of different routes cannot see each other's rules. It
// returns the files' text too, in the route's order, for runners' slices.
func inputFileModules(cfg *config.Config, i int, r config.Route) (map[string]*ast.Module, []Source, config.Errors) {
	out := map[string]*ast.Module{}
	var srcs []Source
	var errs config.Errors
	target, _ := ast.ParseRef(fmt.Sprintf("data.posteed.inputs.r%d", i))
	for _, p := range r.InputFiles {
		path := cfg.InputFile(p)
		src, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, &config.Error{File: cfg.File, Line: r.Line, Key: fmt.Sprintf("routes[%d] %q input-files", i, r.Name), Msg: fmt.Sprintf("cannot read %s: %v", path, err)})
			continue
		}
		m, err := parseModule(path, string(src))
		if err != nil {
			errs = append(errs, regoErrors(err, path, "", nil)...)
			continue
		}
		m.Package.Path = target.Copy()
		out[fmt.Sprintf("route-%d-file-%s", i, path)] = m
		srcs = append(srcs, Source{Module: path, Text: string(src)})
	}
	return out, srcs, errs
}

func compileErrors(cfg *config.Config, errs ast.Errors) config.Errors {
	out := regoErrors(errs, "", "", nil)
	for _, e := range out {
		if e.File == "" {
			e.File = cfg.File
		}
	}
	return out
}

// match returns the indexes of the routes whose filters allow the event, in
// config order.
func (f *filters) match(ctx context.Context, in ast.Value) ([]int, error) {
	out := append([]int(nil), f.matchAll...)
	for _, r := range f.native {
		if r.filter.allows(in) {
			out = append(out, r.index)
		}
	}
	if !f.any {
		slices.Sort(out)
		return out, nil
	}
	rs, err := f.query.Eval(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("evaluate route filters: %w", err)
	}
	if len(rs) == 0 {
		slices.Sort(out)
		return out, nil
	}
	set, _ := rs[0].Bindings["matched"].([]any)
	for _, v := range set {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		i, err := n.Int64()
		if err == nil {
			out = append(out, int(i))
		}
	}
	slices.Sort(out)
	return out, nil
}
