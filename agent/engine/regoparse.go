package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/postee-fleet/posteed/agent/config"
)

// parseModule parses Rego source written for either OPA 1.x (v1 syntax) or
// for Postee's OPA 0.x (v0 syntax: rules without `if`), so templates and
// filters written for Postee load unchanged next to ours.
func parseModule(file, src string) (*ast.Module, error) {
	m, errV1 := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if errV1 == nil {
		return m, nil
	}
	m, errV0 := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV0})
	if errV0 == nil {
		return m, nil
	}
	return nil, errV1
}

// regoErrors turns OPA parse/compile errors into config errors. shift maps a
// Rego row to a line of the config file (for inline Rego); file overrides the
// location's file name when set.
func regoErrors(err error, file, key string, shift func(row int) int) config.Errors {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return config.Errors{{File: file, Key: key, Msg: err.Error()}}
	}
	out := make(config.Errors, 0, len(errs))
	for _, e := range errs {
		ce := &config.Error{File: file, Key: key, Msg: "rego: " + strings.TrimSpace(e.Message)}
		if e.Location != nil {
			if ce.File == "" {
				ce.File = e.Location.File
			}
			ce.Line = e.Location.Row
			if shift != nil {
				ce.Line = shift(e.Location.Row)
			}
		}
		out = append(out, ce)
	}
	return out
}

// pkgRef parses a dotted package name ("postee.vuls.html") into data.<name>.
func pkgRef(name string) (ast.Ref, error) {
	ref, err := ast.ParseRef("data." + name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a Rego package name", name)
	}
	return ref, nil
}
