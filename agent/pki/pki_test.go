package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verify(ca *pki.CA, c *x509.Certificate, usage x509.ExtKeyUsage, host string) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func TestIssueRoles(t *testing.T) {
	ca, err := pki.NewCA("posteed test ca")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		kind       pki.Kind
		cn         string
		hosts      []string
		host       string // checked as DNS name / IP when set
		serverAuth bool
		clientAuth bool
	}{
		{"server", pki.Server, "ctl.example", []string{"ctl.example", "localhost", "127.0.0.1"}, "127.0.0.1", true, true},
		{"server by name", pki.Server, "ctl.example", []string{"ctl.example"}, "ctl.example", true, true},
		{"client", pki.Client, "runner-1", nil, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.Issue(tt.kind, tt.cn, tt.hosts, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("key is not a PKCS#8 PEM block")
			}
			c := parseCert(t, certPEM)
			if c.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.cn)
			}
			if c.IsCA {
				t.Error("leaf certificate is a CA")
			}
			if got := c.NotAfter.Sub(c.NotBefore); got > 2*time.Hour {
				t.Errorf("validity %v, want about 1h", got)
			}
			if err := verify(ca, c, x509.ExtKeyUsageServerAuth, tt.host); (err == nil) != tt.serverAuth {
				t.Errorf("verify as server: err=%v, want ok=%v", err, tt.serverAuth)
			}
			if err := verify(ca, c, x509.ExtKeyUsageClientAuth, ""); (err == nil) != tt.clientAuth {
				t.Errorf("verify as client: err=%v, want ok=%v", err, tt.clientAuth)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	ca, err := pki.NewCA("posteed test ca")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		kind  pki.Kind
		cn    string
		hosts []string
	}{
		{"empty cn", pki.Client, "", nil},
		{"server without host", pki.Server, "ctl", nil},
		{"unknown kind", pki.Kind(9), "x", []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ca.Issue(tt.kind, tt.cn, tt.hosts, 0); err == nil {
				t.Fatal("Issue succeeded")
			}
		})
	}
}

func TestOtherCAIsNotTrusted(t *testing.T) {
	ca, _ := pki.NewCA("a")
	other, _ := pki.NewCA("b")
	certPEM, _, err := other.Issue(pki.Client, "runner-1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(ca, parseCert(t, certPEM), x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Fatal("certificate of another CA verified")
	}
}

func TestWriteLoadCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	ca, err := pki.NewCA("posteed test ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCA(dir, ca); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{pki.CACertFile: 0o644, pki.CAKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	loaded, err := pki.LoadCA(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := loaded.Issue(pki.Client, "runner-1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(ca, parseCert(t, certPEM), x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Fatalf("certificate from loaded CA does not verify against the original: %v", err)
	}
}

func TestLoadCARefusesMismatchedKey(t *testing.T) {
	dir := t.TempDir()
	a, _ := pki.NewCA("a")
	b, _ := pki.NewCA("b")
	if err := pki.WritePair(dir, "ca", a.CertPEM(), b.KeyPEM()); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")); err == nil {
		t.Fatal("LoadCA accepted a key that does not match the certificate")
	}
}

func TestLoadCARefusesLeaf(t *testing.T) {
	dir := t.TempDir()
	ca, _ := pki.NewCA("a")
	certPEM, keyPEM, err := ca.Issue(pki.Client, "runner-1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(dir, "leaf", certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadCA(filepath.Join(dir, "leaf.crt"), filepath.Join(dir, "leaf.key")); err == nil {
		t.Fatal("LoadCA accepted a leaf certificate")
	}
}

func TestWritePairTightensExistingKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "r.key")
	if err := os.WriteFile(key, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(dir, "r", []byte("c"), []byte("k")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v after overwrite, want 0600", fi.Mode().Perm())
	}
}

func TestOpenCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	first, created, err := pki.OpenCA(dir)
	if err != nil || !created {
		t.Fatalf("first OpenCA: created %v, %v", created, err)
	}
	again, created, err := pki.OpenCA(dir)
	if err != nil || created {
		t.Fatalf("second OpenCA: created %v, %v", created, err)
	}
	if !again.Certificate().Equal(first.Certificate()) {
		t.Fatal("the CA was replaced")
	}
	if err := os.Remove(filepath.Join(dir, pki.CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.OpenCA(dir); err == nil {
		t.Fatal("a directory with ca.crt and no ca.key got a CA")
	}
}

func TestValidHost(t *testing.T) {
	for h, ok := range map[string]bool{
		"node-1": true, "node-1.example.org": true, "NODE-1.Example.org.": true, "10.0.0.7": true, "::1": true,
		"": false, "node_1": false, "-node": false, "a b": false, "node..example": false, "*.example.org": false,
	} {
		if err := pki.ValidHost(h); (err == nil) != ok {
			t.Errorf("ValidHost(%q) = %v, want ok=%v", h, err, ok)
		}
	}
}
