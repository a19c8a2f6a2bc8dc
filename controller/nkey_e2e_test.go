package controller_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

func nkeySeed(t *testing.T) (file, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	file = filepath.Join(t.TempDir(), "seed.nk")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, public
}

// TestRunnerNKeysSetting: runner-nkeys in the controller's settings lets
// a runner holding that seed (runner-seed-file) in without a certificate;
// another seed gets nothing.
func TestRunnerNKeysSetting(t *testing.T) {
	seed, pub := nkeySeed(t)
	other, _ := nkeySeed(t)
	c := fleettest.NewCerts(t)
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, t.TempDir(), workCfg(`true`)), func(s *controller.Settings) {
		s.ControllerCARoot = "" // no client certificates: nkeys name the runners
		s.RunnerNKeys = map[string]string{"postee-runner-1": pub}
	})
	noCert := func(seed string) func(*runner.Settings) {
		return func(s *runner.Settings) { s.TLSCert, s.TLSKey, s.NKeySeed = "", "", seed }
	}
	r1 := startRunner(t, h, "postee-runner-1", "node-1", noCert(seed))
	fleettest.Eventually(t, "postee-runner-1 applies its config", func() bool { return r1.r.Revision() == 1 })

	impostor := newRunner(t, h, "postee-runner-1", "node-x", noCert(other))
	impostor.StartAsync()
	h.Logs.Wait(t, "nats connection refused", "error", "unknown nkey")
	assertStable(t, func() bool { return impostor.r.Revision() == 0 })
}

// TestControllerSeedFile: Postee's controller-seed-file makes every runner
// sign with that one nkey, on top of its certificate, which still names it.
func TestControllerSeedFile(t *testing.T) {
	seed, _ := nkeySeed(t)
	c := fleettest.NewCerts(t, "postee-runner-1")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, t.TempDir(), workCfg(`true`)), func(s *controller.Settings) { s.ControllerSeedFile = seed })
	r1 := startRunner(t, h, "postee-runner-1", "node-1", func(s *runner.Settings) { s.NKeySeed = seed })
	fleettest.Eventually(t, "postee-runner-1 applies its config", func() bool { return r1.r.Revision() == 1 })

	unsigned := newRunner(t, h, "postee-runner-1", "node-x")
	unsigned.StartAsync()
	h.Logs.Wait(t, "nats connection refused", "error", "controller-seed-file is set")
	assertStable(t, func() bool { return unsigned.r.Revision() == 0 })
}
