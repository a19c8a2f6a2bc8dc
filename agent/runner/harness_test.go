package runner

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/controller"
)

// The tests here run a real controller (embedded TLS NATS on a random
// loopback port) and real runners in this process; controller code is linked
// into the test binary only, never into postee-runner.

// testCerts is a CA with a server certificate for the controller and client
// certificates for the named runners, written into dir.
func testCerts(t *testing.T, runners ...string) string {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCA(dir, ca); err != nil {
		t.Fatal(err)
	}
	issue := func(kind pki.Kind, cn string, hosts []string) {
		crt, key, err := ca.Issue(kind, cn, hosts, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := pki.WritePair(dir, cn, crt, key); err != nil {
			t.Fatal(err)
		}
	}
	issue(pki.Server, "controller", []string{"localhost", "127.0.0.1"})
	for _, r := range runners {
		issue(pki.Client, r, nil)
	}
	return dir
}

type ctrlHarness struct {
	t     *testing.T
	certs string
	ctrl  *controller.Controller
	stop  context.CancelFunc
	done  chan error
}

// startController runs a controller on cfgFile; natsAddr "" picks a port.
func startController(t *testing.T, certs, cfgFile, natsAddr string, logs *logSink) *ctrlHarness {
	t.Helper()
	if natsAddr == "" {
		natsAddr = "127.0.0.1:-1"
	}
	s := controller.Settings{
		CfgFile: cfgFile, URL: "127.0.0.1:0", StateDir: t.TempDir(), BodyLimit: 1 << 20,
		ControllerURL: natsAddr, ControllerTLSCert: filepath.Join(certs, "controller.crt"),
		ControllerTLSKey: filepath.Join(certs, "controller.key"), ControllerCARoot: filepath.Join(certs, "ca.crt"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, err := controller.New(ctx, controller.Options{Settings: s, Logger: logs.logger("controller"), Notifier: nopNotifier{}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &ctrlHarness{t: t, certs: certs, ctrl: ctrl, stop: cancel, done: make(chan error, 1)}
	t.Cleanup(func() { logs.errs.Check(t) })
	go func() { h.done <- ctrl.Run(ctx, nil) }()
	select {
	case <-ctrl.Ready():
	case err := <-h.done:
		t.Fatalf("controller: %v", err)
	}
	t.Cleanup(h.shutdown)
	return h
}

func (h *ctrlHarness) shutdown() {
	if h.stop == nil {
		return
	}
	h.stop()
	if err := <-h.done; err != nil {
		h.t.Errorf("controller stopped with %v", err)
	}
	h.stop = nil
}

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
func newRunner(t *testing.T, certs, name, natsURL string, logs *logSink, tweak ...func(*Settings)) *runnerHarness {
	t.Helper()
	dir := t.TempDir()
	s := Settings{
		Name: name, ControllerURL: natsURL, TLSCert: filepath.Join(certs, name+".crt"), TLSKey: filepath.Join(certs, name+".key"),
		CARoot: filepath.Join(certs, "ca.crt"), URL: "127.0.0.1:0", StateDir: filepath.Join(dir, "state"),
		RuntimeDir: filepath.Join(dir, "run"), ConfigFile: filepath.Join(dir, "etc", "runner.toml"), BodyLimit: 1 << 20,
	}
	for _, f := range tweak {
		f(&s)
	}
	rh := &runnerHarness{t: t, reload: make(chan struct{}, 1), opts: Options{
		Settings: s, Logger: logs.logger(name), Notifier: nopNotifier{}, Hostname: "node-1", MachineID: "m-" + name, Version: "test",
	}}
	t.Cleanup(func() { logs.errs.Check(t) })
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

type nopNotifier struct{}

func (nopNotifier) Ready(string) error  { return nil }
func (nopNotifier) Reloading() error    { return nil }
func (nopNotifier) Status(string) error { return nil }
func (nopNotifier) Stopping() error     { return nil }

// freeAddr finds a loopback port nothing listens on, for a peer that starts
// later; the port is free when this returns, not reserved.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// eventually polls cond until it holds, or fails the test after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stays checks that cond keeps holding for a while: used to catch an event
// delivered twice, which is an absence no condition can await.
func stays(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 25 {
		if !cond() {
			t.Fatalf("%s no longer holds", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	if err := appendTo(path, content); err != nil {
		t.Fatal(err)
	}
}

// appendTo appends in one write, as a line-buffered producer does.
func appendTo(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	return errors.Join(err, f.Close())
}
