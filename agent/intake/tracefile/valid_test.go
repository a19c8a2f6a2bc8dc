package tracefile

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

var validCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12.25E+2`, `true`, `false`, `null`, " \t\r\n{} \n",
	` {"a" : [1, "two", {"three": null}] , "b": false} `,
	`{"esc":"quote \" backslash \\ slash \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"}`,
	"{\"bad utf8\":\"\xff\xfe\"}", `{"dup":1,"dup":2}`, `[[[[[[[["deep"]]]]]]]]`,
	`{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`, `-a`,
	`"unterminated`, "\"ctl \x01\"", "\"tab \t\"", `tru`, `nul`, `falsey`, `{"a":1} {"b":2}`, `[1] x`,
	`"\x"`, `"\u12"`, `"\u12g4"`, `"\`, `NaN`, "\x00", `{"a":}`, `{,}`, `[,1]`, `{"a"}`, `{1:2}`, `[1 2]`,
}

func TestValidJSONAsEncodingJSON(t *testing.T) {
	cases := append([]string(nil), validCases...)
	samples, err := os.ReadFile("../../../testdata/events/tracee-findings.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, strings.Split(string(samples), "\n")...)
	for _, depth := range []int{maxNesting - 1, maxNesting, maxNesting + 1} {
		cases = append(cases, strings.Repeat("[", depth)+strings.Repeat("]", depth))
		cases = append(cases, strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth))
	}
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

// FuzzValidJSON: validJSON and json.Valid agree on everything.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	samples, err := os.ReadFile("../../../testdata/events/tracee-findings.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(samples), []byte("\n"))
	for _, fn := range []struct {
		name  string
		valid func([]byte) bool
	}{{"encoding-json", json.Valid}, {"validJSON", validJSON}} {
		b.Run(fn.name, func(b *testing.B) {
			b.SetBytes(int64(len(lines[0])))
			i := 0
			for b.Loop() {
				if !fn.valid(lines[i%len(lines)]) {
					b.Fatal("invalid")
				}
				i++
			}
		})
	}
}
