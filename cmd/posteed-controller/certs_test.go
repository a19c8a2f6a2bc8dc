package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certsRun(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := runCLI(t, append([]string{"certs"}, args...)...)
	if code != 0 {
		t.Fatalf("certs %q: exit %d\n%s%s", args, code, stdout, stderr)
	}
	return stdout
}

// TestCerts: what `certs` writes is what the embedded NATS server and a
// runner accept; a second run adds a runner with the same CA and keeps
// the certificates already issued.
func TestCerts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pki")
	f := func(name string) string { return filepath.Join(dir, name) }
	certsRun(t, "--dir", dir, "--controller-host", "ctl.example.org", "postee-runner-1=node-1.example.org,node-1,10.0.0.7")
	for name, mode := range map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600, "controller.crt": 0o644, "controller.key": 0o600, "postee-runner-1.crt": 0o644, "postee-runner-1.key": 0o600} {
		fi, err := os.Stat(f(name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", name, err, fi.Mode().Perm(), mode)
		}
	}
	ctl, r1 := readCert(t, f("controller.crt")), readCert(t, f("postee-runner-1.crt"))
	if !slices.Equal(ctl.DNSNames, []string{"ctl.example.org", "localhost"}) || len(ctl.IPAddresses) != 1 {
		t.Errorf("controller names %v %v", ctl.DNSNames, ctl.IPAddresses)
	}
	if r1.Subject.CommonName != "postee-runner-1" || !slices.Equal(r1.DNSNames, []string{"node-1.example.org", "node-1"}) ||
		len(r1.IPAddresses) != 1 || !r1.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
		t.Errorf("runner certificate: CN %q, names %v %v", r1.Subject.CommonName, r1.DNSNames, r1.IPAddresses)
	}
	for _, c := range []*x509.Certificate{ctl, r1} { // one validity: pki.DefaultValidity (+ the backdated clock skew)
		if got := c.NotAfter.Sub(c.NotBefore); got < pki.DefaultValidity || got > pki.DefaultValidity+time.Hour {
			t.Errorf("%s valid for %v, want %v", c.Subject.CommonName, got, pki.DefaultValidity)
		}
	}

	s := natsdtest.Start(t, natsd.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), Logger: natsdtest.Logger(t),
		CertFile: f("controller.crt"), KeyFile: f("controller.key"), CAFile: f("ca.crt")})
	connect := func(name string) {
		t.Helper()
		nc, err := transport.Connect(context.Background(), transport.ConnOptions{URL: s.ClientURL(), Name: name,
			CertFile: f(name + ".crt"), KeyFile: f(name + ".key"), CAFile: f("ca.crt")})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer nc.Close()
		if err := nc.Flush(); err != nil {
			t.Fatalf("%s with its certificate: %v", name, err)
		}
	}
	connect("postee-runner-1")
	tlsCfg, err := transport.TLSConfig(f("controller.crt"), f("controller.key"), f("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(s.ClientURL(), nats.Secure(tlsCfg.Clone()), nats.NoReconnect(), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Fatal("the controller's server certificate was accepted as a runner")
	}

	// A second run with the same directory: same CA, runner-1 and the
	// controller kept, runner-2 added and accepted.
	before := map[string][]byte{}
	for _, name := range []string{"ca.crt", "ca.key", "controller.crt", "postee-runner-1.crt"} {
		before[name], _ = os.ReadFile(f(name))
	}
	out := certsRun(t, "--dir", dir, "postee-runner-2")
	if !strings.Contains(out, "reusing") || !strings.Contains(out, "keeping") {
		t.Errorf("second run says:\n%s", out)
	}
	for name, b := range before {
		if now, _ := os.ReadFile(f(name)); !bytes.Equal(now, b) {
			t.Errorf("%s changed on the second run", name)
		}
	}
	connect("postee-runner-2")
	connect("postee-runner-1")

	// --renew reissues with the same CA.
	certsRun(t, "--dir", dir, "--renew", "postee-runner-1")
	if now, _ := os.ReadFile(f("postee-runner-1.crt")); bytes.Equal(now, before["postee-runner-1.crt"]) {
		t.Error("--renew kept postee-runner-1.crt")
	}
	if now, _ := os.ReadFile(f("ca.crt")); !bytes.Equal(now, before["ca.crt"]) {
		t.Error("--renew replaced the CA")
	}
	connect("postee-runner-1")
}

// TestCertsRefuses: a wrong argument writes nothing at all.
func TestCertsRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"reserved name", []string{"posteed-controller"}, `reserved for the controller`},
		{"dot in name", []string{"runner-1", "node-1.example"}, `runner name "node-1.example"`},
		{"space in name", []string{"x y"}, `runner name "x y"`},
		{"controller's own files", []string{"controller"}, `its files would be the controller's`},
		{"bad runner host", []string{"runner-1=node_1!"}, `neither an IP address nor a DNS name`},
		{"bad controller host", []string{"--controller-host", "ctl example", "runner-1"}, `--controller-host`},
		{"twice", []string{"runner-1", "runner-1"}, `given twice`},
		{"zero days", []string{"--days", "0", "runner-1"}, `--days 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			_, stderr, code := runCLI(t, append([]string{"certs", "--dir", dir}, tt.args...)...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s was created: %v", dir, err)
			}
		})
	}
	t.Run("half a CA", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "ca.crt"), "x")
		_, stderr, code := runCLI(t, "certs", "--dir", dir, "runner-1")
		if code != 1 || !strings.Contains(stderr, "ca.crt without ca.key") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); string(b) != "x" {
			t.Error("ca.crt replaced")
		}
	})
}
