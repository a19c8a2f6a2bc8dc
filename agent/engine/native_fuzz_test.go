package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// FuzzNativeRenderers: a sample event with one of its values replaced
// renders the same with every Go renderer as with its Rego package,
// whenever the Go renderer takes it. at counts the event's values depth
// first (0 is the whole event, past the last replaces nothing); value is
// the new value's JSON, or when it is not JSON, a string with that text.
// The seed corpus (every position of every sample, odd whole events) runs
// with go test; fuzz longer with
//
//	go test -run X -fuzz FuzzNativeRenderers -fuzztime 10m ./agent/engine
func FuzzNativeRenderers(f *testing.F) {
	tmpls := nativeTemplates(f)
	samples := decodedSamples(f)
	for i, doc := range samples {
		f.Add(uint8(i), uint16(0xffff), "")
		for at := range countValues(doc) {
			f.Add(uint8(i), uint16(at), fuzzValues[(at+i)%len(fuzzValues)])
		}
	}
	for _, ev := range oddEvents() {
		f.Add(uint8(0), uint16(0), ev)
	}
	f.Fuzz(func(t *testing.T, event uint8, at uint16, value string) {
		doc := replaceValue(samples[int(event)%len(samples)], int(at), newValue(value))
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Skip(err)
		}
		ev, err := ParseEvent(raw, "")
		if err != nil {
			t.Skip(err)
		}
		for _, tm := range tmpls {
			sameAsRego(t, tm, ev.value, string(raw))
		}
	})
}

// fuzzValues are replacements that reach the renderers' escapes, cuts,
// number formats and type checks.
var fuzzValues = []string{
	`<script>alert("x")</script> & 'q'`, "a\x01b\x02c", `a|b[c]{d}`, "line\nbreak\r\ttab",
	"\u2028\u2029", "é€𝄞", "none", `""`, `null`, `true`, `false`, `0`, `4`, `-0`, `1.5`, `1e3`,
	`18446744073709551617`, `1763630042123456789`, `[1,"a",{"b":null}]`, `{"a":{"b":"c"}}`,
	`"https://example.com/a?b=c&d=<e>"`, `"http://x"`, `"https://x.example/a b"`, `"javascript:alert(1)"`,
	`"container_image"`, `"CRITICAL"`, `"low"`, `"triggeredBy"`, `{}`, `[]`,
	strings.Repeat("é", 159) + "<>", strings.Repeat("w", 3100), strings.Repeat("line\n", 700),
}

func newValue(s string) any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return s
	}
	return v
}

func decodedSamples(tb testing.TB) []any {
	events := allSampleEvents(tb)
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]any, len(names))
	for i, n := range names {
		d := json.NewDecoder(bytes.NewReader(events[n]))
		d.UseNumber()
		if err := d.Decode(&out[i]); err != nil {
			tb.Fatalf("%s: %v", n, err)
		}
	}
	return out
}

// walk visits v's values depth first, object keys in order; f returns the
// replacement for a value, or nil to keep it and go on.
func walk(v any, f func(any) any) any {
	if r := f(v); r != nil {
		return r
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(map[string]any, len(x))
		for _, k := range keys {
			out[k] = walk(x[k], f)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = walk(e, f)
		}
		return out
	}
	return v
}

func countValues(v any) int {
	n := 0
	walk(v, func(any) any { n++; return nil })
	return n
}

type jsonNull struct{}

func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

func replaceValue(doc any, at int, with any) any {
	if with == nil {
		with = jsonNull{}
	}
	n := 0
	return walk(doc, func(any) any {
		n++
		if n-1 == at {
			return with
		}
		return nil
	})
}

// oddEvents are whole events of shapes the templates do not expect.
func oddEvents() []string {
	vulns := make([]string, 25)
	for i := range vulns {
		vulns[i] = fmt.Sprintf(`{"VulnerabilityID":"CVE-%d","PkgName":"p<%d>","Severity":"HIGH","Title":%q,"PrimaryURL":"https://x.example/%d"}`, i, i, strings.Repeat("t", 150+i), i)
	}
	return []string{
		`{}`, `[]`, `"x"`, `1`, `null`,
		`{"Results":"x","resources":3}`,
		`{"Results":[{"Vulnerabilities":[null,1,{"Severity":5,"VulnerabilityID":7}]}]}`,
		`{"Results":{"a":{"Vulnerabilities":[]}}}`, `{"Results":[{"Vulnerabilities":{"a":{}}}]}`,
		`{"image":"","vulnerability_summary":{},"resources":[{"vulnerabilities":[{}]}]}`,
		`{"image":"i","resources":[{"resource":"x","vulnerabilities":[{"name":1,"aqua_severity":"high"}]}],"vulnerability_summary":{"high":"many"}}`,
		`{"image_assurance_results":{"checks_performed":{"a":{"failed":true}}}}`,
		`{"image_assurance_results":{"checks_performed":"x","disallowed":"yes"}}`,
		`{"image_assurance_results":[1],"os":3,"version":null,"Metadata":{"OS":{"Family":4}}}`,
		`{"ArtifactName":"a","postee":{"AquaServer":"https://aqua.example/#/images/"},"registry":"r/x y"}`,
		`{"ArtifactName":7,"postee":{"AquaServer":"https://aqua.example/"}}`,
		`{"ArtifactName":"big:1","Results":[{"Vulnerabilities":[` + strings.Join(vulns, ",") + `]}]}`,
		`{"ArtifactName":null,"image":null,"SigMetadata":null,"metadata":null,"Context":null}`,
		`{"SigMetadata":{"Properties":"x"},"Context":"x"}`,
		`{"metadata":{"Properties":{"signatureID":null,"Severity":"bad"}},"hostName":null}`,
		`{"processId":18446744073709551617,"timestamp":1.5}`,
		`{"metadata":{"Properties":{"signatureID":"TRC-1"}},"timestamp":1e3,"args":"x"}`,
		`{"metadata":{"Properties":{"signatureID":"TRC-1","Severity":4.0}},"timestamp":1,"args":[{"name":"triggeredBy","value":{"name":"a"}},{"name":"triggeredBy","value":{"name":"b"}}]}`,
		`{"metadata":{"Properties":{"signatureID":"TRC-1"}},"timestamp":1,"args":{"a":{"name":"triggeredBy"}}}`,
		`{"SigMetadata":{"ID":"TRC-2"},"Context":{"timestamp":2,"eventName":null},"kubernetes":"k"}`,
		`{"SigMetadata":{},"Context":{"timestamp":1e400}}`,
		`{"metadata":{"Description":"` + strings.Repeat("long line\\n", 400) + `","Properties":{"signatureID":"TRC-3"}},"timestamp":5}`,
	}
}
