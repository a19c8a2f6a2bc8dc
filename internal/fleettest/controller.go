package fleettest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/postee-fleet/posteed/controller"
)

// Controller is a controller running in this process with TLS NATS and
// HTTP on random loopback ports, stopped when the test ends.
type Controller struct {
	Ctrl   *controller.Controller // replaced by each Start
	Certs  *Certs
	Logs   *Logs
	Reload chan struct{} // a send is a SIGHUP
	// Timings are the controller's waits (zero fields: the defaults),
	// for each Start: set them between NewController and Start.
	Timings controller.Timings

	t        testing.TB
	settings controller.Settings
	stop     context.CancelFunc
	done     chan error
}

// StartController runs a controller on cfgFile with its state in a
// temporary directory; tune adjusts its settings first.
func StartController(t testing.TB, c *Certs, cfgFile string, tune ...func(*controller.Settings)) *Controller {
	t.Helper()
	h := NewController(t, c, cfgFile, tune...)
	h.Start()
	return h
}

// NewController prepares what StartController runs, without starting it:
// Start does, once the test has set what else it needs (Timings).
func NewController(t testing.TB, c *Certs, cfgFile string, tune ...func(*controller.Settings)) *Controller {
	t.Helper()
	s := controller.Settings{
		CfgFile: cfgFile, URL: "127.0.0.1:0", Admin: "127.0.0.1:0", StateDir: t.TempDir(), BodyLimit: 1 << 20,
		ControllerURL: "127.0.0.1:-1", ControllerTLSCert: c.Path("controller.crt"),
		ControllerTLSKey: c.Path("controller.key"), ControllerCARoot: c.Path("ca.crt"),
	}
	for _, f := range tune {
		f(&s)
	}
	h := &Controller{Certs: c, Logs: NewLogs(t), Reload: make(chan struct{}, 1), t: t, settings: s}
	t.Cleanup(h.Shutdown)
	return h
}

// ListenNATS makes the embedded NATS server listen on addr: a fixed
// address lets runners find a restarted controller again.
func ListenNATS(addr string) func(*controller.Settings) {
	return func(s *controller.Settings) { s.ControllerURL = addr }
}

// Start runs the controller (again, after Shutdown) and waits until it is
// ready.
func (h *Controller) Start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, err := controller.New(ctx, controller.Options{Settings: h.settings, Logger: h.Logs.Logger("controller"), Notifier: NopNotifier{}, Timings: h.Timings})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	h.Ctrl, h.stop, h.done = ctrl, cancel, make(chan error, 1)
	go func() { h.done <- ctrl.Run(ctx, h.Reload) }()
	select {
	case <-ctrl.Ready():
	case err := <-h.done:
		cancel()
		h.stop = nil // Run has returned: nothing for Shutdown to wait for
		h.t.Fatalf("controller: %v", err)
	}
}

// Shutdown stops the controller and fails the test if it stopped with an
// error; it does nothing if the controller is not running.
func (h *Controller) Shutdown() {
	if h.stop == nil {
		return
	}
	h.stop()
	if err := <-h.done; err != nil {
		h.t.Errorf("controller stopped with %v", err)
	}
	h.stop = nil
}

// Post sends an event to the controller's webhook path and returns the
// decoded answer.
func (h *Controller) Post(path, body string) map[string]any {
	h.t.Helper()
	return PostJSON(h.t, "http://"+h.Ctrl.HTTPAddr()+path, body)
}

// FleetConn is a connection in the fleet's account, closed with the test.
func (h *Controller) FleetConn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := h.Ctrl.ConnectFleet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
