package runner

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// The tests here run a real controller (fleettest.StartController: embedded
// TLS NATS on a random loopback port) and real runners in this process;
// controller code is linked into the test binary only, never into
// postee-runner.

type runnerHarness struct {
	t      *testing.T
	opts   Options
	r      *Runner
	stop   context.CancelFunc
	done   chan error
	reload chan struct{}
}

// newRunner prepares a runner named name for the controller at natsURL; the
// state and runtime directories live in one temporary directory that
// survives restarts.
func newRunner(t *testing.T, certs *fleettest.Certs, name, natsURL string, logs *fleettest.Logs, tweak ...func(*Settings)) *runnerHarness {
	t.Helper()
	dir := t.TempDir()
	s := Settings{
		Name: name, ControllerURL: natsURL, TLSCert: certs.Path(name + ".crt"), TLSKey: certs.Path(name + ".key"),
		CARoot: certs.Path("ca.crt"), URL: "127.0.0.1:0", StateDir: filepath.Join(dir, "state"),
		RuntimeDir: filepath.Join(dir, "run"), ConfigFile: filepath.Join(dir, "etc", "runner.toml"), BodyLimit: 1 << 20,
	}
	for _, f := range tweak {
		f(&s)
	}
	rh := &runnerHarness{t: t, reload: make(chan struct{}, 1), opts: Options{
		Settings: s, Logger: logs.Logger(name), Notifier: fleettest.NopNotifier{}, Hostname: "node-1", MachineID: "m-" + name, Version: "test",
	}}
	t.Cleanup(rh.shutdown)
	return rh
}

// run starts the runner without waiting for it to be ready.
func (rh *runnerHarness) run() {
	rh.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := New(ctx, rh.opts)
	if err != nil {
		cancel()
		rh.t.Fatal(err)
	}
	rh.r, rh.stop, rh.done = r, cancel, make(chan error, 1)
	go func() { rh.done <- r.Run(ctx, rh.reload) }()
}

// start runs the runner and waits until it serves and follows its files.
func (rh *runnerHarness) start() {
	rh.t.Helper()
	rh.run()
	select {
	case <-rh.r.Ready():
	case err := <-rh.done:
		rh.stop() // Run has returned: nothing for shutdown to wait for
		rh.stop = nil
		rh.t.Fatalf("runner: %v", err)
	case <-time.After(20 * time.Second):
		rh.t.Fatal("runner not ready")
	}
	select {
	case <-rh.r.files.follower.Ready():
	case <-time.After(10 * time.Second):
		rh.t.Fatal("tracee follower not ready")
	}
}

func (rh *runnerHarness) shutdown() {
	if rh.stop == nil {
		return
	}
	rh.stop()
	if err := <-rh.done; err != nil {
		rh.t.Errorf("runner stopped with %v", err)
	}
	rh.stop = nil
}
