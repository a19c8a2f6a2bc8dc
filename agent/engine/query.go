package engine

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// preparedQuery is a query compiled against a module compiler and
// evaluated with topdown, as OPA's rego package does for its default
// target. The engine does without the rego package: with it come OPA's
// Wasm compiler, planner, bundle loader and their dependencies, never run
// here but linked and initialised in every runner (1.5 MiB of its idle
// memory).
type preparedQuery struct {
	c        *ast.Compiler
	qc       ast.QueryCompiler
	body     ast.Body
	store    storage.Store // empty: routes and templates read no data
	builtins map[string]*topdown.Builtin
}

// result is one solution of a query: its variables, named as in the
// query, as JSON values (numbers as json.Number).
type result struct {
	Bindings map[string]any
}

// prepareQuery compiles query against c; builtins implement the builtins
// c declares beyond OPA's.
func prepareQuery(c *ast.Compiler, query ast.Body, builtins map[string]*topdown.Builtin) (preparedQuery, error) {
	qc := c.QueryCompiler().WithStrict(false)
	body, err := qc.Compile(query)
	if err != nil {
		return preparedQuery{}, err
	}
	return preparedQuery{c: c, qc: qc, body: body, store: inmem.New(), builtins: builtins}, nil
}

// Eval evaluates the query on input in; it stops early when ctx ends.
func (q preparedQuery) Eval(ctx context.Context, in ast.Value) ([]result, error) {
	txn, err := q.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer q.store.Abort(ctx, txn)
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	tq := topdown.NewQuery(q.body).WithQueryCompiler(q.qc).WithCompiler(q.c).WithStore(q.store).
		WithTransaction(txn).WithBuiltins(q.builtins).WithCancel(cancel).WithInput(ast.NewTerm(in))
	var rs []result
	err = tq.Iter(ctx, func(qr topdown.QueryResult) error {
		r, err := q.result(qr)
		rs = append(rs, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// result names the variables as the query did (the compiler renames those
// declared with :=) and leaves out the ones it generated.
func (q preparedQuery) result(qr topdown.QueryResult) (result, error) {
	rewritten := q.qc.RewrittenVars()
	r := result{Bindings: make(map[string]any, len(qr))}
	for k, t := range qr {
		if rw, ok := rewritten[k]; ok {
			k = rw
		}
		if k.IsGenerated() || k.IsWildcard() {
			continue
		}
		v, err := ast.JSON(t.Value)
		if err != nil {
			return r, err
		}
		r.Bindings[string(k)] = v
	}
	return r, nil
}
