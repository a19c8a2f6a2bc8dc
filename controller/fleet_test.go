package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/nats-io/nats.go"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/agent/logx/logxtest"
	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/controller"
)

// receiver is a local HTTP peer that records request bodies by path.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]string    // guarded by mu
	times  map[string][]time.Time // guarded by mu; arrival of each body
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{bodies: map[string][]string{}, times: map[string][]time.Time{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		now := time.Now()
		r.mu.Lock()
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], string(b))
		r.times[req.URL.Path] = append(r.times[req.URL.Path], now)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) arrivals(path string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times[path]...)
}

func (r *receiver) got(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies[path]...)
}

// certs holds a CA and certificates issued for one test.
type certs struct {
	dir string
	ca  *pki.CA
}

// newCerts makes a CA, the controller's certificate and one per runner:
// NAME, or NAME=HOST,... for a certificate naming the hosts it runs on.
func newCerts(t *testing.T, runners ...string) *certs {
	t.Helper()
	c := &certs{dir: t.TempDir()}
	var err error
	if c.ca, err = pki.NewCA("test CA"); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteCA(c.dir, c.ca); err != nil {
		t.Fatal(err)
	}
	crt, key, err := c.ca.Issue(pki.Server, "localhost", []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pki.WritePair(c.dir, "controller", crt, key)
	for _, r := range runners { // NAME or NAME=HOST,...: the hosts it may act for
		r, hosts, _ := strings.Cut(r, "=")
		var sans []string
		if hosts != "" {
			sans = strings.Split(hosts, ",")
		}
		crt, key, err := c.ca.Issue(pki.Client, r, sans, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pki.WritePair(c.dir, r, crt, key)
	}
	return c
}

func (c *certs) path(name string) string { return filepath.Join(c.dir, name) }

type harness struct {
	t        *testing.T
	certs    *certs
	cfgFile  string
	stateDir string
	ctrl     *controller.Controller
	stop     context.CancelFunc
	done     chan error
	reload   chan struct{}
	log      *slog.Logger
	logs     *logRecorder
	// natsListen is the embedded server's address; a fixed port lets
	// runners find a restarted controller again.
	natsListen string
	tune       func(*controller.Settings) // nil: the defaults
}

// testLogger checks that every error record carries the error key (see
// logxtest).
func testLogger(t *testing.T) *slog.Logger {
	var h slog.Handler = slog.DiscardHandler
	if os.Getenv("POSTEED_TEST_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	c := &logxtest.Checker{}
	t.Cleanup(func() { c.Check(t) })
	return slog.New(c.Wrap(h))
}

// startController runs a controller with TLS NATS on random loopback ports.
func startController(t *testing.T, c *certs, cfgFile, stateDir string) *harness {
	return startControllerOn(t, c, cfgFile, stateDir, "127.0.0.1:-1")
}

// startControllerOn runs a controller whose NATS server listens on natsListen.
func startControllerOn(t *testing.T, c *certs, cfgFile, stateDir, natsListen string) *harness {
	t.Helper()
	logs := newLogRecorder()
	h := &harness{t: t, certs: c, cfgFile: cfgFile, stateDir: stateDir, reload: make(chan struct{}, 1),
		log: slog.New(logs.tee(testLogger(t).Handler())), logs: logs, natsListen: natsListen}
	h.start()
	t.Cleanup(h.shutdown)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := controller.Settings{
		CfgFile: h.cfgFile, URL: "127.0.0.1:0", Admin: "127.0.0.1:0", StateDir: h.stateDir, BodyLimit: 1 << 20,
		ControllerURL: h.natsListen, ControllerTLSCert: h.certs.path("controller.crt"),
		ControllerTLSKey: h.certs.path("controller.key"), ControllerCARoot: h.certs.path("ca.crt"),
	}
	if h.tune != nil {
		h.tune(&s)
	}
	ctrl, err := controller.New(ctx, controller.Options{Settings: s, Logger: h.log.With("daemon", "controller"), Notifier: nopNotifier{}})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	h.ctrl, h.stop, h.done = ctrl, cancel, make(chan error, 1)
	go func() { h.done <- ctrl.Run(ctx, h.reload) }()
	select {
	case <-ctrl.Ready():
	case err := <-h.done:
		h.t.Fatalf("controller: %v", err)
	}
}

// fleetConn is a connection in the fleet's account, closed with the test.
func (h *harness) fleetConn(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := h.ctrl.ConnectFleet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (h *harness) shutdown() {
	if h.stop == nil {
		return
	}
	h.stop()
	if err := <-h.done; err != nil {
		h.t.Errorf("controller stopped with %v", err)
	}
	h.stop = nil
}

func (h *harness) post(path, body string) map[string]any {
	h.t.Helper()
	return postJSON(h.t, "http://"+h.ctrl.HTTPAddr()+path, body)
}

func postJSON(t *testing.T, url, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %v", url, resp.Status, out)
	}
	return out
}

type nopNotifier struct{}

func (nopNotifier) Ready(string) error  { return nil }
func (nopNotifier) Reloading() error    { return nil }
func (nopNotifier) Status(string) error { return nil }
func (nopNotifier) Stopping() error     { return nil }

type runnerHarness struct {
	t     *testing.T
	name  string
	r     *runner.Runner
	stop  context.CancelFunc
	done  chan error
	state string
	opts  runner.Options
	logs  *logRecorder
}

func startRunner(t *testing.T, h *harness, name, host string, tweak ...func(*runner.Settings)) *runnerHarness {
	t.Helper()
	rh := newRunner(t, h, name, host, tweak...)
	rh.start()
	return rh
}

// newRunner prepares a runner with its own state directory; start or
// startAsync runs it.
func newRunner(t *testing.T, h *harness, name, host string, tweak ...func(*runner.Settings)) *runnerHarness {
	t.Helper()
	rh := &runnerHarness{t: t, name: name, state: t.TempDir(), logs: newLogRecorder()}
	s := runner.Settings{
		Name: name, ControllerURL: h.ctrl.NATSURL(), TLSCert: h.certs.path(name + ".crt"), TLSKey: h.certs.path(name + ".key"),
		CARoot: h.certs.path("ca.crt"), URL: "127.0.0.1:0", StateDir: rh.state, RuntimeDir: filepath.Join(rh.state, "run"), BodyLimit: 1 << 20,
	}
	for _, f := range tweak {
		f(&s)
	}
	log := slog.New(rh.logs.tee(testLogger(t).Handler())).With("daemon", name)
	rh.opts = runner.Options{Settings: s, Logger: log, Notifier: nopNotifier{}, Hostname: host, MachineID: "m-" + name, Version: "test"}
	t.Cleanup(rh.shutdown)
	return rh
}

// startAsync runs the runner without waiting until it is ready: a runner
// that never gets a config would hold start for its config timeout.
func (rh *runnerHarness) startAsync() {
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

func (rh *runnerHarness) start() {
	rh.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := runner.New(ctx, rh.opts)
	if err != nil {
		cancel()
		rh.t.Fatal(err)
	}
	rh.r, rh.stop, rh.done = r, cancel, make(chan error, 1)
	go func() { rh.done <- r.Run(ctx, nil) }()
	select {
	case <-r.Ready():
	case err := <-rh.done:
		rh.t.Fatalf("runner: %v", err)
	}
}

func (rh *runnerHarness) shutdown() {
	if rh.stop == nil {
		return
	}
	rh.stop()
	<-rh.done
	rh.stop = nil
}

func (rh *runnerHarness) post(path, body string) map[string]any {
	rh.t.Helper()
	return postJSON(rh.t, rh.r.Intake()[0]+path, body)
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b) // JSON lines
	}
	return buf.String()
}

func writeCfg(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var _ = fmt.Sprintf

func sleep() { time.Sleep(20 * time.Millisecond) }
