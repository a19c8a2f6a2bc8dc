package natsd_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
)

// scripts/gen-certs must produce what the server and runners accept, with
// the same roles as agent/pki.
func TestGenCertsScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := filepath.Join(t.TempDir(), "certs")
	out, err := exec.Command("../../scripts/gen-certs", dir, "ctl.example", "runner-1").CombinedOutput()
	if err != nil {
		t.Fatalf("gen-certs: %v\n%s", err, out)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	if _, err := pki.LoadCA(f("ca.crt"), f("ca.key")); err != nil {
		t.Fatalf("pki cannot load the script's CA: %v", err)
	}
	s := natsdtest.Start(t, natsd.Options{
		Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), Logger: natsdtest.Logger(t),
		CertFile: f("controller.crt"), KeyFile: f("controller.key"), CAFile: f("ca.crt"),
	})
	nc, err := transport.Connect(context.Background(), transport.ConnOptions{
		URL: s.ClientURL(), Name: "runner-1", CertFile: f("runner-1.crt"), KeyFile: f("runner-1.key"), CAFile: f("ca.crt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatalf("runner-1 with script certificates: %v", err)
	}
	if _, err := dial(t, s.ClientURL(), nats.Secure(tlsConfig(t, f("ca.crt"), f("controller.crt"), f("controller.key")))); err == nil {
		t.Fatal("the controller's server certificate was accepted as a client identity")
	}
}
