package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reference decodes as the engine used to: encoding/json with UseNumber,
// then OPA's conversion.
func reference(data []byte) (ast.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return ast.InterfaceToValue(x)
}

func TestParseValueMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12.25E+2`, `true`, `false`, `null`,
		` {"a" : [1, "two", {"three": null}] , "b": false} `,
		`{"esc":"quote \" backslash \\ slash \/ tab \t nl \n unicode \u00e9 \ud83d\ude00"}`,
		`{"dup":1,"dup":2}`,
		"{\"bad utf8\":\"\xff\xfe\"}",
		`{"big":123456789012345678901234567890,"precise":1763630042123456789}`,
		`[[[[[[[["deep"]]]]]]]]`,
	}
	for _, ev := range sampleEvents(t) {
		cases = append(cases, string(ev))
	}
	for _, c := range cases {
		want, err := reference([]byte(c))
		if err != nil {
			t.Fatalf("reference rejects %q: %v", c, err)
		}
		got, err := parseValue([]byte(c))
		if err != nil {
			t.Fatalf("parseValue(%q): %v", c, err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("parseValue(%q) = %v, want %v", c, got, want)
		}
	}
}

func TestParseValueRejects(t *testing.T) {
	for _, c := range []string{
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
		`"unterminated`, "\"ctl \x01\"", `tru`, `nul`, `{"a":1} {"b":2}`, `[1] x`, `"\x"`, `NaN`,
	} {
		if _, err := parseValue([]byte(c)); err == nil {
			t.Errorf("parseValue(%q) accepted", c)
		}
	}
}

// FuzzParseValue: whatever encoding/json accepts parses to the same value,
// and whatever it rejects is rejected.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c"}]}`, `[true,false,null]`, `"\u00e9"`, `-1.5e10`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := reference(data)
		got, gerr := parseValue(data)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json err=%v, parseValue err=%v", data, werr, gerr)
		}
		if werr == nil && got.Compare(want) != 0 {
			t.Fatalf("%q: got %v want %v", data, got, want)
		}
	})
}

// traceeSamples are the sample Tracee lines, both shapes, compacted as a
// runner reads them.
func traceeSamples(tb testing.TB) [][]byte {
	var out [][]byte
	for _, ev := range sampleEvents(tb)[2:] {
		var c bytes.Buffer
		if err := json.Compact(&c, ev); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c.Bytes())
	}
	return out
}

// BenchmarkParseTracee: ParseEvent alone, on Tracee lines (a runner's and
// the controller's per-event cost before any route runs).
func BenchmarkParseTracee(b *testing.B) {
	lines := traceeSamples(b)
	b.ReportAllocs()
	cpu0, i := cpuTime(), 0
	for b.Loop() {
		if _, err := ParseEvent(lines[i%len(lines)], "x"); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// runnerRoutes are BenchmarkTraceeIngest's routes (agent/runner): two
// filters that run on every Tracee line and match none.
const runnerRoutes = `
routes:
- {name: high-severity, input: 'input.metadata.Properties.Severity >= 4', template: raw-json}
- {name: legacy-trc9, input: 'contains(input.SigMetadata.ID, "TRC-9")', template: raw-json}
templates:
- {name: raw-json, rego-package: postee.rawmessage.json}
`

// BenchmarkMatchTracee: the route filters alone, on parsed Tracee lines.
func BenchmarkMatchTracee(b *testing.B) {
	e := benchEngineWith(b, runnerRoutes)
	var evs []*Event
	for _, l := range traceeSamples(b) {
		ev, err := ParseEvent(l, "x")
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0, i := cpuTime(), 0
	for b.Loop() {
		if _, err := e.Match(ctx, evs[i%len(evs)], ""); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
