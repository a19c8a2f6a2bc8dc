package engine

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// nativeFilter is a route input that Go evaluates instead of Rego: each
// line a comparison (==, !=, <, <=, >, >=) or a contains, startswith or
// endswith call between input paths and constants, or an input path alone.
// Most Postee filters look like that, and the Rego query costs about a
// hundred allocations an event even for one of them. The route's module is
// still compiled, so a config has the same errors; the same builtins and
// comparisons give the same result (nativefilter_test.go holds the two
// to it).
type nativeFilter []nativeExpr

// nativeRoute is route index's input, evaluated natively.
type nativeRoute struct {
	index  int
	filter nativeFilter
}

type nativeOp int

const (
	opDefined nativeOp = iota // a path alone: defined and not false
	opEqual
	opNotEqual
	opLess
	opLessEq
	opGreater
	opGreaterEq
	opContains
	opStartsWith
	opEndsWith
)

var nativeOps = map[string]nativeOp{
	ast.Equal.Name: opEqual, ast.NotEqual.Name: opNotEqual,
	ast.LessThan.Name: opLess, ast.LessThanEq.Name: opLessEq,
	ast.GreaterThan.Name: opGreater, ast.GreaterThanEq.Name: opGreaterEq,
	ast.Contains.Name: opContains, ast.StartsWith.Name: opStartsWith, ast.EndsWith.Name: opEndsWith,
}

type nativeExpr struct {
	op   nativeOp
	args []nativeArg // one for opDefined, else two
}

// nativeArg is an input path (input: its keys) or a constant.
type nativeArg struct {
	input bool
	path  []*ast.Term
	value ast.Value
}

// newNativeFilter returns the native form of an input module (see
// inputModule), if it has one: one rule, `allow`, true when every
// expression holds, and no expression Go does not evaluate as Rego does.
func newNativeFilter(m *ast.Module) (nativeFilter, bool) {
	if len(m.Imports) > 0 || len(m.Rules) != 1 {
		return nil, false
	}
	r := m.Rules[0]
	if r.Default || r.Else != nil || len(r.Head.Args) > 0 || r.Head.Name != "allow" ||
		r.Head.Key != nil || !ast.Boolean(true).Equal(r.Head.Value.Value) || len(r.Body) == 0 {
		return nil, false
	}
	f := make(nativeFilter, 0, len(r.Body))
	for _, e := range r.Body {
		x, ok := newNativeExpr(e)
		if !ok {
			return nil, false
		}
		f = append(f, x)
	}
	return f, true
}

func newNativeExpr(e *ast.Expr) (nativeExpr, bool) {
	if e.Negated || len(e.With) > 0 {
		return nativeExpr{}, false
	}
	if t, ok := e.Terms.(*ast.Term); ok {
		a, ok := newNativeArg(t)
		return nativeExpr{op: opDefined, args: []nativeArg{a}}, ok && a.input
	}
	op, ok := nativeOps[e.Operator().String()]
	if !e.IsCall() || !ok || len(e.Operands()) != 2 {
		return nativeExpr{}, false
	}
	x := nativeExpr{op: op}
	for _, t := range e.Operands() {
		a, ok := newNativeArg(t)
		if !ok {
			return nativeExpr{}, false
		}
		x.args = append(x.args, a)
	}
	return x, true
}

// newNativeArg takes input.a.b (string keys only) or a scalar constant.
func newNativeArg(t *ast.Term) (nativeArg, bool) {
	switch v := t.Value.(type) {
	case ast.String, ast.Number, ast.Boolean, ast.Null:
		return nativeArg{value: v}, true
	case ast.Ref:
		if !v[0].Equal(ast.InputRootDocument) {
			return nativeArg{}, false
		}
		for _, k := range v[1:] {
			if _, ok := k.Value.(ast.String); !ok {
				return nativeArg{}, false
			}
		}
		return nativeArg{input: true, path: v[1:]}, true
	}
	return nativeArg{}, false
}

// allows reports whether every expression holds for input in.
func (f nativeFilter) allows(in ast.Value) bool {
	for _, x := range f {
		if !x.holds(in) {
			return false
		}
	}
	return true
}

// holds is Rego's verdict on x: an undefined path, or a builtin given a
// type it refuses (an error, which leaves the expression undefined), fails.
func (x nativeExpr) holds(in ast.Value) bool {
	a, ok := x.args[0].eval(in)
	if !ok {
		return false
	}
	if x.op == opDefined {
		return !ast.Boolean(false).Equal(a)
	}
	b, ok := x.args[1].eval(in)
	if !ok {
		return false
	}
	switch x.op {
	case opEqual:
		return ast.ValueEqual(a, b)
	case opNotEqual:
		return !ast.ValueEqual(a, b)
	case opLess:
		return a.Compare(b) < 0
	case opLessEq:
		return a.Compare(b) <= 0
	case opGreater:
		return a.Compare(b) > 0
	case opGreaterEq:
		return a.Compare(b) >= 0
	}
	s, ok1 := a.(ast.String)
	sub, ok2 := b.(ast.String)
	if !ok1 || !ok2 {
		return false
	}
	switch x.op {
	case opContains:
		return strings.Contains(string(s), string(sub))
	case opStartsWith:
		return strings.HasPrefix(string(s), string(sub))
	default: // opEndsWith
		return strings.HasSuffix(string(s), string(sub))
	}
}

// eval is a's value in input in; false when the path is undefined.
func (a nativeArg) eval(in ast.Value) (ast.Value, bool) {
	if !a.input {
		return a.value, true
	}
	v := in
	for _, k := range a.path {
		obj, ok := v.(ast.Object)
		if !ok {
			return nil, false
		}
		t := obj.Get(k)
		if t == nil {
			return nil, false
		}
		v = t.Value
	}
	return v, true
}
