package engine

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// jsonformat is the builtin Postee adds to its templates (its
// raw-message-*.rego call it): an object as indented JSON text, one space
// per level, keys sorted, <, > and & escaped as encoding/json does. Any
// other value is an error, which Rego treats as undefined.
var jsonformat = &ast.Builtin{
	Name: "jsonformat",
	Decl: types.NewFunction(types.Args(types.NewObject(nil, types.NewDynamicProperty(types.A, types.A))), types.S),
}

func jsonformatImpl(_ topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
	t, err := jsonformatTerm(ops[0])
	if err != nil {
		return err
	}
	return iter(t)
}

func jsonformatTerm(a *ast.Term) (*ast.Term, error) {
	switch a.Value.(type) {
	case ast.Object, ast.Null:
	default:
		return nil, fmt.Errorf("jsonformat: want an object, got %s", ast.ValueName(a.Value))
	}
	v, err := ast.JSON(a.Value)
	if err != nil {
		return nil, fmt.Errorf("jsonformat: %w", err)
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return nil, fmt.Errorf("jsonformat: %w", err)
	}
	return ast.StringTerm(string(b)), nil
}

// templateCapabilities are OPA's builtins and jsonformat, for compiling
// templates.
func templateCapabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = append(caps.Builtins, jsonformat)
	return caps
}

// templateBuiltins implement the builtins templates may call beyond
// OPA's.
var templateBuiltins = map[string]*topdown.Builtin{jsonformat.Name: {Decl: jsonformat, Func: jsonformatImpl}}

// templateQuery prepares a query on the template compiler c, with
// jsonformat's implementation.
func templateQuery(query ast.Body, c *ast.Compiler) (preparedQuery, error) {
	return prepareQuery(c, query, templateBuiltins)
}
