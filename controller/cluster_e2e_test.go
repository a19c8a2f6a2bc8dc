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
)

// natsCluster is a 3-node nats-server cluster set up as README "Scaling
// out" says: the servers include nats-config's fragment and verify client
// certificates against the CA of certs; the controllers share the seeds.
type natsCluster struct {
	*natsdtest.Cluster
	certs        *certs
	issuer, user string // seed files
}

func newNATSCluster(t *testing.T, c *certs) *natsCluster {
	t.Helper()
	nc := &natsCluster{certs: c, issuer: filepath.Join(c.dir, "nats-issuer.nk"), user: filepath.Join(c.dir, "nats-user.nk")}
	conf, err := controller.MakeNATSConfig(controller.Settings{NATSIssuerSeed: nc.issuer, NATSUserSeed: nc.user})
	if err != nil {
		t.Fatal(err)
	}
	nc.Cluster = natsdtest.StartCluster(t, natsdtest.ClusterOptions{Fragment: conf.Fragment,
		CertFile: c.path("controller.crt"), KeyFile: c.path("controller.key"), CAFile: c.path("ca.crt")})
	return nc
}

// external points a controller at the cluster.
func (nc *natsCluster) external(s *controller.Settings) {
	s.NATSServers, s.NATSIssuerSeed, s.NATSUserSeed = nc.URLs(), nc.issuer, nc.user
}

// controller starts one more controller on the cluster.
func (nc *natsCluster) controller(t *testing.T, cfg string, tune ...func(*controller.Settings)) *harness {
	t.Helper()
	return startTuned(t, nc.certs, cfg, func(s *controller.Settings) {
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
	tlsCfg, err := transport.TLSConfig(nc.certs.path("controller.crt"), nc.certs.path("controller.key"), nc.certs.path("ca.crt"))
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
	start func(t *testing.T, c *certs, cfg string) []*harness
}

var topologies = []topology{
	{"embedded", func(t *testing.T, c *certs, cfg string) []*harness {
		return []*harness{startController(t, c, cfg, t.TempDir())}
	}},
	{"cluster", func(t *testing.T, c *certs, cfg string) []*harness {
		nc := newNATSCluster(t, c)
		return []*harness{nc.controller(t, cfg), nc.controller(t, cfg)}
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
	c := newCerts(t, "postee-runner-1", "postee-runner-2")
	nc := newNATSCluster(t, c)
	h := nc.controller(t, writeCfg(t, dir, workCfg(`echo "secret-token" > /dev/null`)))
	h.post("/", trc1(t, 0)) // runner-1's work, queued while it is away
	ctl, js := nc.fleetConn(t)
	eventually(t, "runner-1's job queued", func() bool { return pendingWork(t, h, "postee-runner-1") == 1 })
	natsdtest.AssertIsolated(t, natsdtest.Isolation{Victim: "postee-runner-1", Spy: "postee-runner-2", Ctl: ctl, JS: js,
		Connect: func(opts ...nats.Option) *nats.Conn {
			conn, err := transport.Connect(context.Background(), transport.ConnOptions{URL: nc.URLs(), Name: "postee-runner-2",
				CertFile: c.path("postee-runner-2.crt"), KeyFile: c.path("postee-runner-2.key"), CAFile: c.path("ca.crt"),
				Logger: testLogger(t)}, opts...)
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
	recv := newReceiver(t)
	out := filepath.Join(dir, "exec.out")
	c := newCerts(t, "postee-runner-1")
	nc := newNATSCluster(t, c)
	cfg := writeCfg(t, dir, seedControllerRunner(recv.URL, out))
	a := nc.controller(t, cfg)
	b := nc.controller(t, cfg)
	r1 := startRunner(t, a, "postee-runner-1", "node-1")
	r1.logs.wait(t, "config slice read from the fleet's bucket")
	a.shutdown()
	b.shutdown()

	// controller-runner-route: the runner's two actions run now, the
	// controller's once a controller is back.
	id := r1.post("/", sample(t, "tracee-finding-legacy.json"))["event_id"].(string)
	eventually(t, "the runner's actions", func() bool { return len(readLines(out)) == 1 && len(recv.got("/runner")) == 1 })
	if len(recv.got("/controller")) != 0 {
		t.Fatal("a controller action ran with every controller down")
	}
	if st := r1.r.Healthy(); st != nil {
		t.Fatalf("runner unhealthy with the controllers down: %v", st)
	}
	b.start()
	b.logs.wait(t, "event from runner", "event_id", id)
	eventually(t, "the controller's action", func() bool { return len(recv.got("/controller")) == 1 })
	assertStable(t, func() bool { return len(readLines(out)) == 1 && len(recv.got("/controller")) == 1 })
}

// A reload on one controller reaches every runner while the other
// controller is down; that one adopts the revision when it is back, and a
// controller whose cfg.yaml differs says so.
func TestClusterReloadWhileControllerDown(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := newCerts(t, "postee-runner-1", "postee-runner-2")
	nc := newNATSCluster(t, c)
	cfg := writeCfg(t, dir, twoRunnerCfg(out, "v1", ""))
	a := nc.controller(t, cfg)
	b := nc.controller(t, cfg)
	r1 := startRunner(t, a, "postee-runner-1", "node-1")
	r2 := startRunner(t, a, "postee-runner-2", "node-2")
	rev := a.ctrl.Revision()
	if b.ctrl.Revision() != rev {
		t.Fatalf("controllers at revisions %d and %d", rev, b.ctrl.Revision())
	}
	eventually(t, "runners on the first revision", func() bool { return r1.r.Revision() == rev && r2.r.Revision() == rev })

	b.shutdown()
	writeCfg(t, dir, twoRunnerCfg(out, "v2", ""))
	a.reload <- struct{}{}
	a.logs.wait(t, "config reloaded", "config_revision", fmt.Sprint(rev+1))
	eventually(t, "both runners on the new revision", func() bool { return r1.r.Revision() == rev+1 && r2.r.Revision() == rev+1 })
	a.logs.wait(t, "config revision applied by every connected runner", "config_revision", fmt.Sprint(rev+1))

	b.start()
	if b.ctrl.Revision() != rev+1 {
		t.Fatalf("controller back at revision %d, want %d", b.ctrl.Revision(), rev+1)
	}
	id := b.post("/", trc1(t, 1))["event_id"].(string)
	eventually(t, "work from the controller back", func() bool { return strings.Contains(strings.Join(readLines(out), "\n"), "v2 "+id) })

	// A controller started with another cfg.yaml publishes it (as a reload
	// would); the others, whose files differ, say so.
	d := nc.controller(t, writeCfg(t, dir2, twoRunnerCfg(out, "other", "")))
	if d.ctrl.Revision() != rev+2 {
		t.Fatalf("controller with another cfg.yaml at revision %d, want %d", d.ctrl.Revision(), rev+2)
	}
	for _, h := range []*harness{a, b} {
		h.logs.wait(t, "cfg.yaml differs from the fleet's published config revision; deploy the same files to every controller",
			"config_revision", fmt.Sprint(rev+2))
		if st := h.ctrl.Status(); !strings.Contains(st, "cfg.yaml differs from config revision") {
			t.Fatalf("status %q does not say the config differs", st)
		}
	}
}

// unique-message-props holds across a restart of every controller: the
// window is in JetStream.
func TestClusterDedupAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := newCerts(t)
	nc := newNATSCluster(t, c)
	cfg := writeCfg(t, dir, fmt.Sprintf(`
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
	a.post("/", trc1(t, 0))
	eventually(t, "the first finding sent", func() bool { return len(readLines(out)) == 1 })
	a.shutdown()
	b.shutdown()
	b.start()
	b.post("/", trc1(t, 1)) // the same SigMetadata.ID: a duplicate
	other := b.post("/", trc2(t, 0))["event_id"].(string)
	eventually(t, "another finding sent", func() bool { return countIDs(out)[other] == 1 })
	assertStable(t, func() bool { return len(readLines(out)) == 2 })
}

// Messages held for aggregation survive a restart of every controller: the
// batch is in JetStream, and the message that completes it on another
// controller sends both, once.
func TestClusterAggregationAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := newCerts(t)
	nc := newNATSCluster(t, c)
	cfg := writeCfg(t, dir, fmt.Sprintf(`
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
	lines := strings.Split(strings.TrimSpace(sample(t, "tracee-findings.jsonl")), "\n")
	a.post("/", lines[0])
	_, js := nc.fleetConn(t)
	held, err := js.KeyValue(context.Background(), jsstate.HoldBucket)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first finding held", func() bool {
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
	a.shutdown()
	b.shutdown()
	if n := len(readLines(out)); n != 0 {
		t.Fatalf("%d messages sent at the stop; the held one must wait in JetStream", n)
	}
	b.start()
	b.post("/", lines[1])
	eventually(t, "one aggregated message", func() bool { return len(readLines(out)) == 1 })
	assertStable(t, func() bool { return len(readLines(out)) == 1 })
	if got := readLines(out)[0]; !strings.Contains(got, "(2)") {
		t.Fatalf("aggregated title %q, want both findings", got)
	}
}
