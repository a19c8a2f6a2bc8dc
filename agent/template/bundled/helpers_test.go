package bundled

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// compiled holds every bundled module compiled once for the whole test run.
var compiled = sync.OnceValues(func() (*ast.Compiler, error) {
	return compile(nil)
})

// compile parses the bundled files as Rego v1 and extra (name → source) as
// Rego v0, as the engine does with users' Postee-era templates.
func compile(extra map[string]string) (*ast.Compiler, error) {
	modules := map[string]*ast.Module{}
	for name, src := range Files() {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		modules[name] = m
	}
	for name, src := range extra {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV0})
		if err != nil {
			return nil, err
		}
		modules[name] = m
	}
	c := ast.NewCompiler()
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// prepare returns a prepared query for data.<pkg> on compiler c.
func prepare(t testing.TB, c *ast.Compiler, pkg string) rego.PreparedEvalQuery {
	t.Helper()
	pq, err := rego.New(rego.Query("data."+pkg), rego.Compiler(c)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("prepare %s: %v", pkg, err)
	}
	return pq
}

// render evaluates pkg for input and returns the package document.
func render(t testing.TB, pkg string, input any) map[string]any {
	t.Helper()
	c, err := compiled()
	if err != nil {
		t.Fatalf("compile bundled templates: %v", err)
	}
	return renderWith(t, c, pkg, input)
}

func renderWith(t testing.TB, c *ast.Compiler, pkg string, input any) map[string]any {
	t.Helper()
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		t.Fatalf("convert input: %v", err)
	}
	rs, err := prepare(t, c, pkg).Eval(context.Background(), rego.EvalParsedInput(v))
	if err != nil {
		t.Fatalf("eval %s: %v", pkg, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		t.Fatalf("eval %s: no result", pkg)
	}
	doc, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		t.Fatalf("eval %s: document is %T, not an object", pkg, rs[0].Expressions[0].Value)
	}
	return doc
}

// decode parses JSON keeping numbers exact (Tracee timestamps overflow a
// float64), as the engine should.
func decode(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	return v
}

// sampleEvents loads every event in testdata/events: whole .json files and
// each line of .jsonl files, keyed by a readable name.
func sampleEvents(t testing.TB) map[string]any {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "testdata", "events")
	files, err := filepath.Glob(filepath.Join(dir, "*.json*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events in %s: %v", dir, err)
	}
	events := map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		if !strings.HasSuffix(base, ".jsonl") {
			events[base] = decode(t, b)
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
		for n := 1; sc.Scan(); n++ {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				events[base+":"+itoa(n)] = decode(t, line)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func sampleEvent(t testing.TB, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func jsonNumber(n int) json.Number { return json.Number(itoa(n)) }
