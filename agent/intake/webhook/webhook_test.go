package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/engine"
)

// sink parses like the daemons do and knows one route, "known".
type sink struct{ got []string }

func (s *sink) Accept(_ context.Context, raw []byte, route string) (string, []string, error) {
	if _, err := engine.ParseEvent(raw, ""); err != nil {
		return "", nil, err
	}
	if route != "" && route != "known" {
		return "id", nil, fmt.Errorf("%w: %q", engine.ErrNoRoute, route)
	}
	s.got = append(s.got, route+":"+string(raw))
	return "id-1", []string{"known"}, nil
}

func TestEndpoints(t *testing.T) {
	s := &sink{}
	srv := httptest.NewServer(NewMux(Options{Sink: s, BodyLimit: 64}))
	defer srv.Close()
	tests := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/", `{"a":1}`, 200, `"event_id":"id-1"`},
		{"POST", "/scan", `{"a":2}`, 200, `"routes":["known"]`},
		{"POST", "/tenant/known", `{"a":3}`, 200, `"routes":["known"]`},
		{"POST", "/tenant/unknown", `{"a":4}`, 404, `no such route`},
		{"POST", "/", `not json`, 400, `not valid JSON`},
		{"POST", "/", ``, 400, `not valid JSON`},
		{"POST", "/", `{"a":"` + strings.Repeat("x", 100) + `"}`, 413, `larger than the limit of 64 bytes`},
		{"GET", "/ping", ``, 200, `pong`},
		{"GET", "/healthz", ``, 200, `"status":"ok"`},
		{"GET", "/", ``, 405, ``},
		{"POST", "/nope", `{}`, 404, ``},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %s %q: %d %s, want %d containing %q", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.code, tc.want)
		}
	}
	if strings.Join(s.got, ",") != `:{"a":1},:{"a":2},known:{"a":3}` {
		t.Fatalf("sink got %v", s.got)
	}
}

func TestHealthzUnhealthy(t *testing.T) {
	srv := httptest.NewServer(NewMux(Options{Sink: &sink{}, Health: func() error { return fmt.Errorf("nats down") }}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 503 || body["error"] != "nats down" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestHTTPSWithSelfSignedCertificateKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cert, err := LoadOrCreateCert("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCert("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(cert.Certificate[0]) != string(again.Certificate[0]) {
		t.Fatal("a new self-signed certificate was generated on the second start")
	}
	if st, err := os.Stat(filepath.Join(dir, "https-selfsigned.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	srv := NewServer(NewMux(Options{Sink: s}), nil, ln, cert)
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed on purpose
	resp, err := c.Post("https://"+ln.Addr().String()+"/", "application/json", strings.NewReader(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(s.got) != 1 {
		t.Fatalf("%d %v", resp.StatusCode, s.got)
	}
	if _, err := LoadOrCreateCert("missing.crt", "missing.key", dir); err == nil {
		t.Fatal("missing configured certificate accepted")
	}
}
