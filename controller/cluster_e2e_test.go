package controller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/controller/jsstate"
	"github.com/postee-fleet/posteed/controller/natsd/natsdtest"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// natsCluster is a 3-node nats-server cluster set up as README "Scaling
// out" says: the servers include nats-config's fragment and verify client
// certificates against the CA of certs; the controllers share the seeds.
type natsCluster struct {
	*natsdtest.Cluster
	certs        *fleettest.Certs
	issuer, user string // seed files
}

func newNATSCluster(t *testing.T, c *fleettest.Certs) *natsCluster {
	t.Helper()
	nc := &natsCluster{certs: c, issuer: filepath.Join(c.Dir, "nats-issuer.nk"), user: filepath.Join(c.Dir, "nats-user.nk")}
	conf, err := controller.MakeNATSConfig(controller.Settings{NATSIssuerSeed: nc.issuer, NATSUserSeed: nc.user})
	if err != nil {
		t.Fatal(err)
	}
	nc.Cluster = natsdtest.StartCluster(t, natsdtest.ClusterOptions{Fragment: conf.Fragment,
		CertFile: c.Path("controller.crt"), KeyFile: c.Path("controller.key"), CAFile: c.Path("ca.crt"),
		ProbeSeed: nc.user})
	return nc
}

// external points a controller at the cluster.
func (nc *natsCluster) external(s *controller.Settings) {
	s.NATSServers, s.NATSIssuerSeed, s.NATSUserSeed = nc.URLs(), nc.issuer, nc.user
}

// controller starts one more controller on the cluster.
func (nc *natsCluster) controller(t *testing.T, cfg string, tune ...func(*controller.Settings)) *fleettest.Controller {
	t.Helper()
	return fleettest.StartController(t, nc.certs, cfg, func(s *controller.Settings) {
		nc.external(s)
		for _, f := range tune {
			f(s)
		}
	})
}

// fleetConn is a connection in the fleet's account with the controllers'
// credentials.
func (nc *natsCluster) fleetConn(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	tlsCfg, err := transport.TLSConfig(nc.certs.Path("controller.crt"), nc.certs.Path("controller.key"), nc.certs.Path("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := nats.NkeyOptionFromSeed(nc.user)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nats.Connect(nc.URLs(), nats.Secure(tlsCfg), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	return conn, js
}

// topology starts the controllers of a fleet on cfg: one with the embedded
// server, or two sharing a NATS cluster.
type topology struct {
	name  string
	start func(t *testing.T, c *fleettest.Certs, cfg string) []*fleettest.Controller
}

var topologies = []topology{
	{"embedded", func(t *testing.T, c *fleettest.Certs, cfg string) []*fleettest.Controller {
		return []*fleettest.Controller{fleettest.StartController(t, c, cfg)}
	}},
	{"cluster", func(t *testing.T, c *fleettest.Certs, cfg string) []*fleettest.Controller {
		nc := newNATSCluster(t, c)
		return []*fleettest.Controller{nc.controller(t, cfg), nc.controller(t, cfg)}
	}},
}

func forEachTopology(t *testing.T, test func(t *testing.T, top topology)) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) { test(t, top) })
	}
}

// runner-2's certificate reaches nothing of runner-1's on the cluster: the
// auth callout gives it exactly the permissions of the embedded server.
func TestClusterRunnerIsolation(t *testing.T) {
	dir := t.TempDir()
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	nc := newNATSCluster(t, c)
	h := nc.controller(t, fleettest.WriteCfg(t, dir, workCfg(`echo "secret-token" > /dev/null`)))
	h.Post("/", trc1(t, 0)) // runner-1's work, queued while it is away
	ctl, js := nc.fleetConn(t)
	fleettest.Eventually(t, "runner-1's job queued", func() bool { return pendingWork(t, h, "postee-runner-1") == 1 })
	natsdtest.AssertIsolated(t, natsdtest.Isolation{Victim: "postee-runner-1", Spy: "postee-runner-2", Ctl: ctl, JS: js,
		Connect: func(opts ...nats.Option) *nats.Conn {
			conn, err := transport.Connect(context.Background(), transport.ConnOptions{URL: nc.URLs(), Name: "postee-runner-2",
				CertFile: c.Path("postee-runner-2.crt"), KeyFile: c.Path("postee-runner-2.key"), CAFile: c.Path("ca.crt"),
				Logger: fleettest.Logger(t)}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(conn.Close)
			return conn
		}})

}

// Runners read their slices from the bucket, and connected runners keep
// working while every controller is down: their own actions run, and the
// events they report wait in JetStream for a controller.
func TestClusterRunnersWorkWithoutControllers(t *testing.T) {
	dir := t.TempDir()
	recv := fleettest.NewReceiver(t)
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1")
	nc := newNATSCluster(t, c)
	cfg := fleettest.WriteCfg(t, dir, seedControllerRunner(recv.URL, out))
	a := nc.controller(t, cfg)
	b := nc.controller(t, cfg)
	r1 := startRunner(t, a, "postee-runner-1", "node-1")
	r1.Logs.Wait(t, "config slice read from the fleet's bucket")
	a.Shutdown()
	b.Shutdown()

	// controller-runner-route: the runner's two actions run now, the
	// controller's once a controller is back.
	id := r1.Post("/", fleettest.Sample(t, "tracee-finding-legacy.json"))["event_id"].(string)
	fleettest.Eventually(t, "the runner's actions", func() bool { return len(fleettest.ReadLines(out)) == 1 && len(recv.Got("/runner")) == 1 })
	if len(recv.Got("/controller")) != 0 {
		t.Fatal("a controller action ran with every controller down")
	}
	if st := r1.r.Healthy(); st != nil {
		t.Fatalf("runner unhealthy with the controllers down: %v", st)
	}
	b.Start()
	b.Logs.Wait(t, "event from runner", "event_id", id)
	fleettest.Eventually(t, "the controller's action", func() bool { return len(recv.Got("/controller")) == 1 })
	assertStable(t, func() bool { return len(fleettest.ReadLines(out)) == 1 && len(recv.Got("/controller")) == 1 })
}

// A reload on one controller reaches every runner while the other
// controller is down; that one adopts the revision when it is back, and a
// controller whose cfg.yaml differs says so.
func TestClusterReloadWhileControllerDown(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	nc := newNATSCluster(t, c)
	cfg := fleettest.WriteCfg(t, dir, twoRunnerCfg(out, "v1", ""))
	a := nc.controller(t, cfg)
	b := nc.controller(t, cfg)
	r1 := startRunner(t, a, "postee-runner-1", "node-1")
	r2 := startRunner(t, a, "postee-runner-2", "node-2")
	rev := a.Ctrl.Revision()
	if b.Ctrl.Revision() != rev {
		t.Fatalf("controllers at revisions %d and %d", rev, b.Ctrl.Revision())
	}
	fleettest.Eventually(t, "runners on the first revision", func() bool { return r1.r.Revision() == rev && r2.r.Revision() == rev })

	b.Shutdown()
	fleettest.WriteCfg(t, dir, twoRunnerCfg(out, "v2", ""))
	a.Reload <- struct{}{}
	a.Logs.Wait(t, "config reloaded", "config_revision", fmt.Sprint(rev+1))
	fleettest.Eventually(t, "both runners on the new revision", func() bool { return r1.r.Revision() == rev+1 && r2.r.Revision() == rev+1 })
	a.Logs.Wait(t, "config revision applied by every connected runner", "config_revision", fmt.Sprint(rev+1))

	b.Start()
	if b.Ctrl.Revision() != rev+1 {
		t.Fatalf("controller back at revision %d, want %d", b.Ctrl.Revision(), rev+1)
	}
	id := b.Post("/", trc1(t, 1))["event_id"].(string)
	fleettest.Eventually(t, "work from the controller back", func() bool { return strings.Contains(strings.Join(fleettest.ReadLines(out), "\n"), "v2 "+id) })

	// A controller started with another cfg.yaml publishes it (as a reload
	// would); the others, whose files differ, say so.
	d := nc.controller(t, fleettest.WriteCfg(t, dir2, twoRunnerCfg(out, "other", "")))
	if d.Ctrl.Revision() != rev+2 {
		t.Fatalf("controller with another cfg.yaml at revision %d, want %d", d.Ctrl.Revision(), rev+2)
	}
	for _, h := range []*fleettest.Controller{a, b} {
		h.Logs.Wait(t, "cfg.yaml differs from the fleet's published config revision; deploy the same files to every controller",
			"config_revision", fmt.Sprint(rev+2))
		if st := h.Ctrl.Status(); !strings.Contains(st, "cfg.yaml differs from config revision") {
			t.Fatalf("status %q does not say the config differs", st)
		}
	}
}

// unique-message-props holds across a restart of every controller: the
// window is in JetStream.
func TestClusterDedupAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t)
	nc := newNATSCluster(t, c)
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(`
routes:
- name: once
  input: contains(input.SigMetadata.ID, "TRC-")
  actions: [note]
  template: raw-json
  plugins:
    unique-message-props: ["SigMetadata.ID"]
    unique-message-timeout: 1h
templates:
- {name: raw-json, rego-package: postee.rawmessage.json}
actions:
- name: note
  type: exec
  enable: true
  exec-script: echo "$POSTEE_EVENT_ID" >> %q
`, out))
	a := nc.controller(t, cfg)
	b := nc.controller(t, cfg)
	a.Post("/", trc1(t, 0))
	fleettest.Eventually(t, "the first finding sent", func() bool { return len(fleettest.ReadLines(out)) == 1 })
	a.Shutdown()
	b.Shutdown()
	b.Start()
	b.Post("/", trc1(t, 1)) // the same SigMetadata.ID: a duplicate
	other := b.Post("/", trc2(t, 0))["event_id"].(string)
	fleettest.Eventually(t, "another finding sent", func() bool { return countIDs(out)[other] == 1 })
	assertStable(t, func() bool { return len(fleettest.ReadLines(out)) == 2 })
}

// Messages held for aggregation survive a restart of every controller: the
// batch is in JetStream, and the message that completes it on another
// controller sends both, once.
func TestClusterAggregationAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t)
	nc := newNATSCluster(t, c)
	cfg := fleettest.WriteCfg(t, dir, fmt.Sprintf(`
routes:
- name: digest
  input: startswith(input.SigMetadata.ID, "TRC-")
  actions: [record]
  template: tracee-slack
  plugins:
    aggregate-message-number: 2
templates:
- {name: tracee-slack, rego-package: postee.tracee.slack}
actions:
- name: record
  type: exec
  enable: true
  exec-script: echo "$POSTEE_TITLE" >> %s
`, out))
	a := nc.controller(t, cfg)
	b := nc.controller(t, cfg)
	lines := strings.Split(strings.TrimSpace(fleettest.Sample(t, "tracee-findings.jsonl")), "\n")
	a.Post("/", lines[0])
	_, js := nc.fleetConn(t)
	held, err := js.KeyValue(context.Background(), jsstate.HoldBucket)
	if err != nil {
		t.Fatal(err)
	}
	fleettest.Eventually(t, "the first finding held", func() bool {
		keys, err := held.ListKeys(context.Background())
		if err != nil {
			return false
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		return n > 0
	})
	a.Shutdown()
	b.Shutdown()
	if n := len(fleettest.ReadLines(out)); n != 0 {
		t.Fatalf("%d messages sent at the stop; the held one must wait in JetStream", n)
	}
	b.Start()
	b.Post("/", lines[1])
	fleettest.Eventually(t, "one aggregated message", func() bool { return len(fleettest.ReadLines(out)) == 1 })
	assertStable(t, func() bool { return len(fleettest.ReadLines(out)) == 1 })
	if got := fleettest.ReadLines(out)[0]; !strings.Contains(got, "(2)") {
		t.Fatalf("aggregated title %q, want both findings", got)
	}
}
