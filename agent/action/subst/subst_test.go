package subst

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decode(t testing.TB, text string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func event(t testing.TB, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(b))
}

func TestRender(t *testing.T) {
	small := `{"image":"alpine:3.10","n":3,"ok":true,"quote":"say \"hi\"\n<b>",` +
		`"list":[{"name":"a"},{"name":"b"}],"obj":{"k":"v"},"nil":null}`
	tests := []struct {
		name, text, want string
	}{
		{"json string", `{"img": "event.input.image"}`, `{"img": "alpine:3.10"}`},
		{"json string with text around", `{"m": "image event.input.image is bad"}`, `{"m": "image alpine:3.10 is bad"}`},
		{"json string escapes", `{"q": "event.input.quote"}`, `{"q": "say \"hi\"\n<b>"}`},
		{"json string number", `{"n": "event.input.n"}`, `{"n": "3"}`},
		{"json string object", `{"o": "event.input.obj"}`, `{"o": "{\"k\":\"v\"}"}`},
		{"json string missing", `{"x": "event.input.nope"}`, `{"x": ""}`},
		{"json bare string", `{"img": event.input.image}`, `{"img": "alpine:3.10"}`},
		{"json bare number", `{"n": event.input.n, "ok": event.input.ok}`, `{"n": 3, "ok": true}`},
		{"json bare object", `{"o": event.input.obj}`, `{"o": {"k":"v"}}`},
		{"json bare missing", `{"x": event.input.nope}`, `{"x": null}`},
		{"json bare null", `{"x": event.input.nil}`, `{"x": null}`},
		{"array index brackets", `["event.input.list[1].name"]`, `["b"]`},
		{"array index dot", `["event.input.list.0.name"]`, `["a"]`},
		{"index out of range", `["event.input.list[5].name"]`, `[""]`},
		{"index on a map", `["event.input.obj[0]"]`, `[""]`},
		{"escaped quote before", `{"a": "x\"y", "b": "event.input.n"}`, `{"a": "x\"y", "b": "3"}`},
		{"text string", `image event.input.image failed`, `image alpine:3.10 failed`},
		{"text trailing dot", `image is event.input.image.`, `image is alpine:3.10.`},
		{"text number", `n=event.input.n`, `n=3`},
		{"text missing", `x=[event.input.nope]`, `x=[]`},
		{"text whole event", `event.input`, small},
		{"glued word is not a reference", `myevent.input.image event.inputs`, `myevent.input.image event.inputs`},
		{"no references", `plain text`, `plain text`},
		{"several", `event.input.image/event.input.n/event.input.ok`, `alpine:3.10/3/true`},
	}
	input := decode(t, small)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Compile(tt.text).Render(input))
			if tt.name == "text whole event" {
				// Map keys come out sorted; compare as JSON.
				if !jsonEqual(t, got, tt.want) {
					t.Fatalf("got %s", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRenderSampleEvents(t *testing.T) {
	tests := []struct {
		event, text, want string
	}{
		{"image-scan.json", `{"img": "event.input.image", "crit": event.input.vulnerability_summary.critical}`,
			`{"img": "alpine:3.10", "crit": 2}`},
		{"image-scan.json", `{"cve": "event.input.resources[1].vulnerabilities[0].name"}`, `{"cve": "CVE-2021-3711"}`},
		{"trivy-image-report.json", `{"target": "event.input.Results[0].Target"}`, `{"target": "alpine:3.10 (alpine 3.10.9)"}`},
	}
	for _, tt := range tests {
		t.Run(tt.event+" "+tt.text, func(t *testing.T) {
			got := string(Compile(tt.text).Render(event(t, tt.event)))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("result is not JSON: %s", got)
			}
		})
	}
}

func TestHasReferences(t *testing.T) {
	if Compile("no refs here").HasReferences() || !Compile("a event.input.b").HasReferences() {
		t.Fatal("HasReferences is wrong")
	}
}

func jsonEqual(t testing.TB, a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func BenchmarkRender(b *testing.B) {
	in := event(b, "trivy-image-report.json")
	tmpl := Compile(`{"target": "event.input.Results[0].Target", "artifact": "event.input.ArtifactName", "n": event.input.SchemaVersion}`)
	b.ReportAllocs()
	for b.Loop() {
		tmpl.Render(in)
	}
}
