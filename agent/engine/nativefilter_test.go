package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// filterCases are route inputs, each with whether Go evaluates it.
var filterCases = []struct {
	input  string
	native bool
}{
	{`input.metadata.Properties.Severity >= 4`, true},
	{`input.metadata.Properties.Severity > 3`, true},
	{`input.metadata.Properties.Severity < 3`, true},
	{`input.metadata.Properties.Severity <= 3`, true},
	{`input.metadata.Properties.Severity == 3`, true},
	{`input.metadata.Properties.Severity != 3`, true},
	{`input.metadata.Properties.Severity == 3.0`, true},
	{`input.metadata.Properties.Severity == "3"`, true},
	{`4 <= input.metadata.Properties.Severity`, true},
	{`contains(input.SigMetadata.ID, "TRC-9")`, true},
	{`startswith(input.SigMetadata.ID, "TRC-")`, true},
	{`endswith(input.hostName, "-1")`, true},
	{`contains(input.x, "1")`, true},
	{`contains("TRC-9", input.x)`, true},
	{`input.hostName == "node-1"`, true},
	{`input.hostName != "node-2"`, true},
	{`"node-1" == input.hostName`, true},
	{`input.x == null`, true},
	{`input.x == false`, true},
	{`input.x != null`, true},
	{`input.x > "a"`, true},
	{`input.x < 1`, true},
	{`input.x == input.y`, true},
	{`input.image_assurance_results.disallowed`, true},
	{`input.x`, true},
	{`input`, true},
	{`input["x"] == 1`, true},
	{"input.hostName == \"node-1\"\ninput.metadata.Properties.Severity > 2", true},
	{`not input.x`, false},
	{`count(input.x) > 1`, false},
	{`input.x[0] == 1`, false},
	{`input.x == [1]`, false},
	{`input.x = 1`, false},
	{`lower(input.hostName) == "node-1"`, false},
	{"x := input.x\nx > 1", false},
	{`input.x == 1 with input.x as 1`, false},
}

// filterInputs are events that walk the corners: missing paths, other
// types, numbers written differently.
var filterInputs = []string{
	`{}`, `[]`, `"str"`, `null`, `{"x":false}`, `{"x":null}`, `{"x":0}`, `{"x":1}`, `{"x":1.0}`, `{"x":"b"}`,
	`{"x":[1]}`, `{"x":{"a":1}}`, `{"x":"a1b","y":"a1b"}`, `{"x":1,"y":1.0}`, `{"x":[1],"y":[1]}`, `{"x":"TRC"}`,
	`{"metadata":{"Properties":{"Severity":4}}}`, `{"metadata":{"Properties":{"Severity":"4"}}}`,
	`{"metadata":{"Properties":{"Severity":4.0}}}`, `{"metadata":{"Properties":{"Severity":3.9999}}}`,
	`{"metadata":{"Properties":{"Severity":3e0}}}`, `{"metadata":{"Properties":{"Severity":null}}}`,
	`{"metadata":{"Properties":[4]}}`, `{"metadata":"x"}`, `{"SigMetadata":{"ID":"TRC-9"}}`, `{"SigMetadata":{"ID":9}}`,
	`{"hostName":"node-1","metadata":{"Properties":{"Severity":3}}}`, `{"hostName":"node-2"}`, `{"hostName":1}`,
	`{"image_assurance_results":{"disallowed":false}}`, `{"image_assurance_results":{"disallowed":0}}`,
	`{"image_assurance_results":{"disallowed":true}}`,
}

// regoVerdicts are the filters as Rego alone decides them.
type regoVerdicts []rego.PreparedEvalQuery

func newRegoVerdicts(tb testing.TB) regoVerdicts {
	var out regoVerdicts
	for i, c := range filterCases {
		body := "package t\n\nallow if {\n" + indent(c.input) + "\n}\n"
		pq, err := rego.New(rego.Query("data.t.allow"), rego.Module(fmt.Sprintf("case%d.rego", i), body)).PrepareForEval(context.Background())
		if err != nil {
			tb.Fatalf("%q: %v", c.input, err)
		}
		out = append(out, pq)
	}
	return out
}

func (rv regoVerdicts) allows(tb testing.TB, i int, in ast.Value) bool {
	rs, err := rv[i].Eval(context.Background(), rego.EvalParsedInput(in))
	if err != nil {
		tb.Fatalf("%q: %v", filterCases[i].input, err)
	}
	return len(rs) > 0 && rs[0].Expressions[0].Value == true
}

// filterEngine has one route per filter case, route i for case i.
func filterEngine(tb testing.TB) *Engine {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i, c := range filterCases {
		fmt.Fprintf(&b, "- name: r%d\n  template: raw-json\n  input: |\n    %s\n", i, strings.ReplaceAll(c.input, "\n", "\n    "))
	}
	b.WriteString("templates:\n- {name: raw-json, rego-package: postee.rawmessage.json}\n")
	return benchEngineWith(tb, b.String())
}

// checkSameVerdicts matches raw with e and compares every route with Rego.
func checkSameVerdicts(t *testing.T, e *Engine, rv regoVerdicts, raw []byte) {
	t.Helper()
	ev, err := ParseEvent(raw, "x")
	if err != nil {
		return
	}
	routes, err := e.Match(context.Background(), ev, "")
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	got := map[int]bool{}
	for _, r := range routes {
		got[r.index] = true
	}
	for i, c := range filterCases {
		if want := rv.allows(t, i, ev.value); got[i] != want {
			t.Errorf("input %q on %s: matched %v, Rego says %v", c.input, raw, got[i], want)
		}
	}
}

func TestNativeFiltersAsRego(t *testing.T) {
	e, rv := filterEngine(t), newRegoVerdicts(t)
	native := map[int]bool{}
	for _, r := range e.filters.native {
		native[r.index] = true
	}
	for i, c := range filterCases {
		if native[i] != c.native {
			t.Errorf("input %q: native %v, want %v", c.input, native[i], c.native)
		}
	}
	for _, in := range filterInputs {
		checkSameVerdicts(t, e, rv, []byte(in))
	}
	for _, ev := range sampleEvents(t) {
		checkSameVerdicts(t, e, rv, ev)
	}
}

// FuzzNativeFilters: on any event, routes Go evaluates match as Rego says.
func FuzzNativeFilters(f *testing.F) {
	for _, in := range filterInputs {
		f.Add([]byte(in))
	}
	e, rv := filterEngine(f), newRegoVerdicts(f)
	f.Fuzz(func(t *testing.T, raw []byte) { checkSameVerdicts(t, e, rv, raw) })
}
