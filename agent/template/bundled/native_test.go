package bundled

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The Go renderers are compared with the Rego, event by event and fuzzed,
// in agent/engine (native_test.go), where the engine reads both the same
// way. These are the pieces that stand on their own.

func TestNativeStandsAsideForUserPackages(t *testing.T) {
	tests := []struct {
		user []string
		pkg  string
		want bool
	}{
		{nil, "postee.vuls.html", true},
		{nil, "postee.vuls.html.aggregation", false}, // aggregations stay Rego
		{nil, "custom.template", false},
		{[]string{"postee.vuls.html"}, "postee.vuls.html", false},
		{[]string{"postee.lib.vuls"}, "postee.trivy.jira", false},
		{[]string{"postee.lib.text"}, "postee.tracee.slack", false},
		{[]string{"postee.lib.text"}, "postee.rawmessage.json", true},
		{[]string{"postee"}, "postee.rawmessage.json", false},
		{[]string{"postee.lib"}, "postee.tracee.html", false},
		{[]string{"postee.vuls.html.aggregation", "custom.x"}, "postee.vuls.html", true},
		{[]string{"postee.vuls"}, "postee.tracee.html", true},
	}
	for _, tt := range tests {
		user := map[string]bool{}
		for _, p := range tt.user {
			user[p] = true
		}
		if got := Native(tt.pkg, user) != nil; got != tt.want {
			t.Errorf("Native(%s) with user packages %v = %v, want %v", tt.pkg, tt.user, got, tt.want)
		}
	}
}

// FuzzAppendJSON: appendJSON writes what json.Marshal writes for the
// value ast.JSON makes of a parsed document, and appendIndentedJSON what
// json.MarshalIndent(v, "", "  ") writes (json.marshal and
// json.marshal_with_options in the raw templates).
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[true,null,"x"],"":{}}`, `[]`, `{}`, `[[],{},[{}]]`, `"<&>\u2028\u2029\u007f\u0000\t\b\f"`,
		`-0.5e-7`, `{"é":"\ud834\udd1e","a b":"\"\\/"}`, `"\ufffd"`, `18446744073709551617`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var doc any
		if d.Decode(&doc) != nil || d.More() {
			t.Skip()
		}
		v, err := ast.InterfaceToValue(doc)
		if err != nil {
			t.Skip()
		}
		want, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := appendJSON(nil, v); !ok || string(got) != string(want) {
			t.Errorf("appendJSON = %q (ok %v), json.Marshal = %q", got, ok, want)
		}
		want, _ = json.MarshalIndent(doc, "", "  ")
		if got, ok := appendIndentedJSON(nil, v); !ok || string(got) != string(want) {
			t.Errorf("appendIndentedJSON = %q (ok %v), json.MarshalIndent = %q", got, ok, want)
		}
	})
}

// FuzzValidNumber: validNumber accepts exactly the numbers encoding/json
// reads.
func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "01", "1.", ".5", "1e", "1e+5", "-1.25E-3", "", "-", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var n json.Number
		want := json.Unmarshal([]byte(s), &n) == nil && string(n) == s
		if got := validNumber(s); got != want {
			t.Errorf("validNumber(%q) = %v, encoding/json reads it: %v", s, got, want)
		}
	})
}
