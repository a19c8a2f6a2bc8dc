package webhook

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
)

// TestBearerToken: with a token configured, an event without it or with
// another one is refused 401 and never reaches the sink; /ping and
// /healthz stay open.
func TestBearerToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	s := &sink{}
	var reasons []string
	srv := httptest.NewServer(NewMux(Options{Sink: s, Token: token, BadInput: func(r string) { reasons = append(reasons, r) }}))
	defer srv.Close()
	tests := []struct {
		name, method, path, auth string
		code                     int
	}{
		{"no token", "POST", "/", "", 401},
		{"wrong token", "POST", "/scan", "Bearer 0123456789abcdef0124", 401},
		{"token as basic auth", "POST", "/", "Basic " + token, 401},
		{"token prefix", "POST", "/", "Bearer " + token[:10], 401},
		{"right token", "POST", "/", "Bearer " + token, 200},
		{"right token, one route", "POST", "/tenant/known", "Bearer " + token, 200},
		{"ping is open", "GET", "/ping", "", 200},
		{"healthz is open", "GET", "/healthz", "", 200},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(`{"a":1}`))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.code)
		}
		if tc.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if len(s.got) != 2 || strings.Join(reasons, ",") != "unauthorized,unauthorized,unauthorized,unauthorized" {
		t.Fatalf("sink got %v, refusals %v", s.got, reasons)
	}
}

// certs is a CA trusted by the intake, a client certificate it signed, and
// one from another CA.
func certs(t *testing.T) (caFile string, good, other tls.Certificate) {
	t.Helper()
	dir := t.TempDir()
	issue := func(caName string) (*pki.CA, tls.Certificate) {
		ca, err := pki.NewCA(caName)
		if err != nil {
			t.Fatal(err)
		}
		crt, key, err := ca.Issue(pki.Client, "tracee-forwarder", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(crt, key)
		if err != nil {
			t.Fatal(err)
		}
		return ca, pair
	}
	ca, good := issue("intake CA")
	_, other = issue("some other CA")
	caFile = filepath.Join(dir, "intake-ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, good, other
}

// TestClientCertificates: with intake-client-ca, the HTTPS intake takes
// only clients with a certificate that CA signed.
func TestClientCertificates(t *testing.T) {
	caFile, good, other := certs(t)
	access, err := LoadAccess("", caFile)
	if err != nil {
		t.Fatal(err)
	}
	if access.Open() {
		t.Fatal("client CAs configured, yet the intake is called open")
	}
	cert, err := LoadOrCreateCert("", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	srv := NewServer(NewMux(Options{Sink: s}), nil, ln, cert, access.ServerOptions()...)
	go srv.Serve()
	defer srv.Shutdown(context.Background())

	tests := []struct {
		name   string
		certs  []tls.Certificate
		accept bool
	}{
		{"no client certificate", nil, false},
		{"certificate of another CA", []tls.Certificate{other}, false},
		{"certificate of the intake CA", []tls.Certificate{good}, true},
	}
	for _, tc := range tests {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // the server's self-signed certificate is not what is tested
			Certificates:       tc.certs,
		}}}
		resp, err := c.Post("https://"+ln.Addr().String()+"/", "application/json", strings.NewReader(`{"x":1}`))
		if tc.accept {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
			}
			continue
		}
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want the TLS handshake refused", tc.name, resp.StatusCode)
		}
	}
	if len(s.got) != 1 {
		t.Fatalf("sink got %v, want the one event with a good certificate", s.got)
	}
}

func TestLoadAccess(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", "  5f1e8a2c9d0b47e6a1c3  \n")
	tests := []struct {
		name, token, ca string
		want            string // error text; "" for none
	}{
		{"nothing configured", "", "", ""},
		{"token trimmed", good, "", ""},
		{"missing token file", filepath.Join(dir, "nope"), "", "intake token"},
		{"short token", write("short", "secret\n"), "", "want at least 16"},
		{"missing CA", "", filepath.Join(dir, "nope.crt"), "intake client CA"},
		{"CA without PEM", "", write("bad.crt", "not a certificate"), "no PEM certificate"},
	}
	for _, tc := range tests {
		a, err := LoadAccess(tc.token, tc.ca)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if tc.name == "token trimmed" && a.Token != "5f1e8a2c9d0b47e6a1c3" {
			t.Errorf("token read as %q", a.Token)
		}
		if tc.name == "nothing configured" && (!a.Open() || a.ServerOptions() != nil) {
			t.Errorf("nothing configured, yet %+v", a)
		}
	}
}
