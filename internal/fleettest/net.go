package fleettest

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
)

// FreeAddr finds a loopback port nothing listens on, for a peer that starts
// later; the port is free when this returns, not reserved.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// PostJSON posts body to url, fails the test unless the answer is 200 OK
// and returns the decoded answer.
func PostJSON(t testing.TB, url, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %v", url, resp.Status, out)
	}
	return out
}

// NopNotifier stands for systemd's notify socket.
type NopNotifier struct{}

func (NopNotifier) Ready(string) error  { return nil }
func (NopNotifier) Reloading() error    { return nil }
func (NopNotifier) Status(string) error { return nil }
func (NopNotifier) Stopping() error     { return nil }
