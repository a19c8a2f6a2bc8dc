package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon/daemontest"
	"github.com/postee-fleet/posteed/agent/pki"
)

// TestIntakeDefaultsToLoopback: anyone who reaches the runner's intake can
// trigger this host's actions, so out of the box only this host can: the
// flags' defaults, the socket units and the packaged runner.toml all say
// loopback.
func TestIntakeDefaultsToLoopback(t *testing.T) {
	t.Parallel()
	help, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	toml := daemontest.ReadFile(t, filepath.Join("..", "..", "etc", "postee", "runner.toml"))
	tests := []struct{ where, got, want string }{
		{"--url default", flagDefault(string(help), "url"), "127.0.0.1:9082"},
		{"--tls default", flagDefault(string(help), "tls"), "127.0.0.1:9445"},
		{"postee-runner.socket", strings.Join(keyValues(t, "systemd/postee-runner.socket", "ListenStream"), " "), "127.0.0.1:9082"},
		{"postee-runner-https.socket", strings.Join(keyValues(t, "systemd/postee-runner-https.socket", "ListenStream"), " "), "127.0.0.1:9445"},
		{"runner.toml url", tomlDefault(toml, "url"), `"127.0.0.1:9082"`},
		{"runner.toml tls", tomlDefault(toml, "tls"), `"127.0.0.1:9445"`},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.where, tc.got, tc.want)
		}
	}
}

// flagDefault finds `(default "X")` in the usage text of -name.
func flagDefault(usage, name string) string {
	_, rest, ok := strings.Cut(usage, "\n  -"+name+" ")
	if !ok {
		return ""
	}
	_, rest, ok = strings.Cut(rest, `(default "`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `")`)
	return v
}

// tomlDefault is the value of the commented-out `#key = value` line.
func tomlDefault(toml, key string) string {
	for _, l := range strings.Split(toml, "\n") {
		if v, ok := strings.CutPrefix(l, "#"+key+" = "); ok {
			return v
		}
	}
	return ""
}

func keyValues(t *testing.T, file, key string) []string {
	t.Helper()
	var vals []string
	sc := bufio.NewScanner(strings.NewReader(daemontest.ReadFile(t, filepath.Join("..", "..", file))))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// TestIntakeTokenAndClientCertificates opens the intake the documented
// way: a bearer token as a systemd credential and a client CA. Posts
// without the token, or over HTTPS without a certificate of that CA, are
// refused; with them, taken.
func TestIntakeTokenAndClientCertificates(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	creds := t.TempDir()
	const token = "9c1f0e6b2a7d43588e0f"
	ca, err := pki.NewCA("intake clients")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.NewCA("someone else")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"intake.token": []byte(token + "\n"), "intake-ca.crt": ca.CertPEM()} {
		if err := os.WriteFile(filepath.Join(creds, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	appendSettings(t, r.settings, "intake-token-file = \"intake.token\"\nintake-client-ca = \"intake-ca.crt\"\n")

	httpLn, httpsLn := listen(t), listen(t)
	files := []*os.File{listenerFile(t, httpLn), listenerFile(t, httpsLn)}
	cmd := r.command("CREDENTIALS_DIRECTORY="+creds, "LISTEN_FDS=2", "LISTEN_FDNAMES=http:https")
	cmd.Args = daemontest.WithPID("LISTEN_PID", cmd.Args...)
	cmd.Path, cmd.ExtraFiles = cmd.Args[0], files
	p := daemontest.Start(t, cmd)
	defer func() {
		p.Signal(t, syscall.SIGTERM)
		if code := p.Wait(t, 30*time.Second); code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, p.Stderr())
		}
	}()

	good, other := clientCert(t, ca), clientCert(t, stranger)
	httpURL, httpsURL := "http://"+httpLn.Addr().String()+"/", "https://"+httpsLn.Addr().String()+"/"
	tests := []struct {
		name, url, token string
		cert             *tls.Certificate
		want             int // 0: the TLS handshake fails
	}{
		{"http without a token", httpURL, "", nil, 401},
		{"http with another token", httpURL, "9c1f0e6b2a7d43588e0e", nil, 401},
		{"http with the token", httpURL, token, nil, 200},
		{"https without a client certificate", httpsURL, token, nil, 0},
		{"https with another CA's certificate", httpsURL, token, &other, 0},
		{"https with a certificate but no token", httpsURL, "", &good, 401},
		{"https with both", httpsURL, token, &good, 200},
	}
	for _, tc := range tests {
		if got := postEvent(t, tc.url, tc.token, tc.cert); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if l, ok := p.Line("without a token or client certificates"); ok {
		t.Errorf("warned about an open intake though it is closed: %s", l)
	}
}

// TestExposedOpenIntakeWarns: an intake opened to the network without a
// token or client certificates is logged as such.
func TestExposedOpenIntakeWarns(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on all interfaces: %v", err)
	}
	defer ln.Close()
	cmd := r.command("LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.Args = daemontest.WithPID("LISTEN_PID", cmd.Args...)
	cmd.Path, cmd.ExtraFiles = cmd.Args[0], []*os.File{listenerFile(t, ln)}
	p := daemontest.Start(t, cmd)
	p.AwaitLog(t, "takes events from the network without a token or client certificates", 10*time.Second)
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func listenerFile(t *testing.T, ln net.Listener) *os.File {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func appendSettings(t *testing.T, file, lines string) {
	t.Helper()
	b := []byte(daemontest.ReadFile(t, file))
	// Top-level keys go before the [discovery] table.
	i := bytes.Index(b, []byte("[discovery]"))
	out := append(append(append([]byte(nil), b[:i]...), lines...), b[i:]...)
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func clientCert(t *testing.T, ca *pki.CA) tls.Certificate {
	t.Helper()
	crt, key, err := ca.Issue(pki.Client, "tracee-forwarder", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// postEvent posts a Tracee finding; 0 when no HTTP answer came (the TLS
// handshake was refused).
func postEvent(t *testing.T, url, token string, cert *tls.Certificate) int {
	t.Helper()
	tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the intake's self-signed certificate is not under test
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(event(t)))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
