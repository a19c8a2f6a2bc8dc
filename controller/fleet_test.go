package controller_test

import (
	"context"
	"path/filepath"
	"testing"

	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// The fleet tests run a controller (fleettest.StartController) and real
// runners, through the runner's exported API, in this process.

type runnerHarness struct {
	t     *testing.T
	name  string
	r     *runner.Runner
	stop  context.CancelFunc
	done  chan error
	state string
	opts  runner.Options
	Logs  *fleettest.Logs
}

func startRunner(t *testing.T, h *fleettest.Controller, name, host string, tweak ...func(*runner.Settings)) *runnerHarness {
	t.Helper()
	rh := newRunner(t, h, name, host, tweak...)
	rh.Start()
	return rh
}

// newRunner prepares a runner with its own state directory; Start or
// StartAsync runs it.
func newRunner(t *testing.T, h *fleettest.Controller, name, host string, tweak ...func(*runner.Settings)) *runnerHarness {
	t.Helper()
	rh := &runnerHarness{t: t, name: name, state: t.TempDir(), Logs: fleettest.NewLogs(t)}
	s := runner.Settings{
		Name: name, ControllerURL: h.Ctrl.NATSURL(), TLSCert: h.Certs.Path(name + ".crt"), TLSKey: h.Certs.Path(name + ".key"),
		CARoot: h.Certs.Path("ca.crt"), URL: "127.0.0.1:0", StateDir: rh.state, RuntimeDir: filepath.Join(rh.state, "run"), BodyLimit: 1 << 20,
	}
	for _, f := range tweak {
		f(&s)
	}
	rh.opts = runner.Options{Settings: s, Logger: rh.Logs.Logger(name), Notifier: fleettest.NopNotifier{}, Hostname: host, MachineID: "m-" + name, Version: "test"}
	t.Cleanup(rh.Shutdown)
	return rh
}

// StartAsync runs the runner without waiting until it is ready: a runner
// that never gets a config would hold Start for its config timeout.
func (rh *runnerHarness) StartAsync() {
	rh.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := runner.New(ctx, rh.opts)
	if err != nil {
		cancel()
		rh.t.Fatal(err)
	}
	rh.r, rh.stop, rh.done = r, cancel, make(chan error, 1)
	go func() { rh.done <- r.Run(ctx, nil) }()
}

// Start runs the runner and waits until it is ready.
func (rh *runnerHarness) Start() {
	rh.t.Helper()
	rh.StartAsync()
	select {
	case <-rh.r.Ready():
	case err := <-rh.done:
		rh.stop() // Run has returned: nothing for Shutdown to wait for
		rh.stop = nil
		rh.t.Fatalf("runner: %v", err)
	}
}

func (rh *runnerHarness) Shutdown() {
	if rh.stop == nil {
		return
	}
	rh.stop()
	<-rh.done
	rh.stop = nil
}

// Post sends an event to the runner's first intake.
func (rh *runnerHarness) Post(path, body string) map[string]any {
	rh.t.Helper()
	return fleettest.PostJSON(rh.t, rh.r.Intake()[0]+path, body)
}
