package transport_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// TestMarshalKeepsHTMLCharacters: <, > and & (in strings and inside a
// json.RawMessage) stay one byte each, the raw event is compacted, and the
// result decodes to what was encoded.
func TestMarshalKeepsHTMLCharacters(t *testing.T) {
	event := json.RawMessage("{\n  \"cmd\": \"a < b && c > d\",\n  \"n\": 1\n}")
	env := transport.Envelope{Runner: "r1", Host: "h", EventID: "e<1>", Received: time.Unix(0, 0).UTC(), Event: event}
	b, err := transport.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `\u003c`) || strings.Contains(string(b), `\u0026`) || !strings.Contains(string(b), `"event":{"cmd":"a < b && c > d","n":1}`) {
		t.Fatalf("encoded %s", b)
	}
	if strings.HasSuffix(string(b), "\n") {
		t.Fatal("trailing newline")
	}
	var back transport.Envelope
	if err := json.Unmarshal(b, &back); err != nil || back.EventID != "e<1>" {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	std, _ := json.Marshal(env)
	if len(std) <= len(b) {
		t.Fatalf("json.Marshal gave %d bytes, Marshal %d: the test no longer shows the escaping", len(std), len(b))
	}
}

// TestEncodeForRefusesPastMaxPayload: EncodeFor knows the server's max
// payload once connected and wraps ErrTooLarge past it (less header room);
// without a connection nothing is refused.
func TestEncodeForRefusesPastMaxPayload(t *testing.T) {
	p := natsdtest.NewPKI(t)
	so := p.ServerOptions(t)
	so.MaxPayload = 64 << 10
	srv := natsdtest.Start(t, so)
	f := &natsdtest.Fixture{PKI: p, Server: srv}
	nc := f.Runner(t, "r1")
	if err := nc.Flush(); err != nil { // connected: the server's INFO is known
		t.Fatal(err)
	}
	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{"well under", 1 << 10, true},
		{"leaves header room", 64<<10 - transport.HeaderRoom - 64, true},
		{"into the header room", 64<<10 - 100, false},
		{"over, but only when escaped", 16 << 10, true}, // '<' ×16 Ki: 96 KiB with \u003c
	}
	for _, tc := range tests {
		b, err := transport.EncodeFor(nc, map[string]string{"x": strings.Repeat("<", tc.size)})
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, transport.ErrTooLarge)) {
			t.Errorf("%s (%d bytes): %v", tc.name, len(b), err)
		}
	}
	if _, err := transport.EncodeFor(nil, strings.Repeat("x", 1<<20)); err != nil {
		t.Errorf("no connection: %v", err)
	}
}
