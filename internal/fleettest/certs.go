// Package fleettest is the one harness of the tests that run a real
// controller and real runners in one process: certificates, a controller on
// random loopback ports, an HTTP receiver, log capture, polling helpers and
// test files. Runners are started by each package's own tests (the
// runner's use its internals), so this package never imports agent/runner.
//
// Only _test.go files may import it: it links the controller, which must
// stay out of postee-runner (TestImportedByTestsOnly checks).
package fleettest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
)

// Certs is a test's CA with the controller's server certificate
// (controller.crt, for localhost and 127.0.0.1) and runners' client
// certificates (NAME.crt), all in Dir.
type Certs struct {
	Dir string
	CA  *pki.CA
}

// NewCerts makes a CA, the controller's certificate and one per runner:
// NAME, or NAME=HOST,... for a certificate naming the hosts it may act for.
func NewCerts(t testing.TB, runners ...string) *Certs {
	t.Helper()
	c := &Certs{Dir: t.TempDir()}
	var err error
	if c.CA, err = pki.NewCA("test CA"); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCA(c.Dir, c.CA); err != nil {
		t.Fatal(err)
	}
	c.issue(t, pki.Server, "controller", "localhost", []string{"localhost", "127.0.0.1"})
	for _, r := range runners {
		name, hosts, _ := strings.Cut(r, "=")
		var sans []string
		if hosts != "" {
			sans = strings.Split(hosts, ",")
		}
		c.issue(t, pki.Client, name, name, sans)
	}
	return c
}

func (c *Certs) issue(t testing.TB, kind pki.Kind, file, cn string, sans []string) {
	t.Helper()
	crt, key, err := c.CA.Issue(kind, cn, sans, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(c.Dir, file, crt, key); err != nil {
		t.Fatal(err)
	}
}

// Path is the file name in Dir: "ca.crt", "controller.key", "r1.crt".
func (c *Certs) Path(name string) string { return filepath.Join(c.Dir, name) }
