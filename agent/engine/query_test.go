package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

func compiled(t *testing.T, src string) *ast.Compiler {
	t.Helper()
	c := ast.NewCompiler().WithCapabilities(templateCapabilities())
	if c.Compile(map[string]*ast.Module{"q.rego": ast.MustParseModule(src)}); c.Failed() {
		t.Fatal(c.Errors)
	}
	return c
}

// Variables come back named as in the query, those declared with := too,
// without the ones the compiler generates; numbers as json.Number; a
// template's builtin is there.
func TestPreparedQueryBindings(t *testing.T) {
	c := compiled(t, "package q\nimport rego.v1\nn := count(input.xs)\ntext := jsonformat({\"b\": input.xs[0]})\n")
	q, err := templateQuery(ast.MustParseBody(`__n := data.q.n; text = data.q.text; [x | x := input.xs[_]]`), c)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := q.Eval(context.Background(), ast.MustInterfaceToValue(map[string]any{"xs": []any{1, 2}}))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	b := rs[0].Bindings
	if len(b) != 2 || b["__n"] != json.Number("2") || b["text"] != "{\n \"b\": 1\n}" {
		t.Errorf("bindings %#v", b)
	}
	if rs, err := q.Eval(context.Background(), ast.MustInterfaceToValue(map[string]any{})); err != nil || len(rs) != 0 {
		t.Errorf("undefined: %v %v", rs, err)
	}
}

// An evaluation stops when its context ends (a route or template that
// loops does not hold a worker past the send's deadline).
func TestPreparedQueryCancelled(t *testing.T) {
	c := compiled(t, "package q\nimport rego.v1\nnever if {\n\tsome x in numbers.range(1, 20000)\n\tsome y in numbers.range(1, 20000)\n\tx + y < 0\n}\n")
	q, err := prepareQuery(c, ast.MustParseBody("data.q.never"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = q.Eval(ctx, ast.NewObject())
	var te *topdown.Error
	if !errors.As(err, &te) || te.Code != topdown.CancelErr || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}
