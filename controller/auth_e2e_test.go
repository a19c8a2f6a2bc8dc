package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// A runner whose certificate another CA signed is refused at the TLS
// handshake: no config, and the controller never counts it as connected.
func TestRunnerFromForeignCAGetsNothing(t *testing.T) {
	dir := t.TempDir()
	c := fleettest.NewCerts(t)
	foreign := fleettest.NewCerts(t, "postee-runner-1")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(`true`)))
	rh := newRunner(t, h, "postee-runner-1", "node-1", func(s *runner.Settings) {
		s.TLSCert, s.TLSKey = foreign.Path("postee-runner-1.crt"), foreign.Path("postee-runner-1.key")
	})
	rh.StartAsync()

	h.Logs.Wait(t, "nats server error", "error", "TLS handshake error")
	rh.Logs.Wait(t, "controller unreachable")
	// A config push to every runner the config names reaches nobody.
	fleettest.WriteCfg(t, dir, workCfg(`true; true`))
	h.Reload <- struct{}{}
	h.Logs.Wait(t, "config reloaded", "config_revision", "2")
	assertStable(t, func() bool { return rh.r.Revision() == 0 })
	for _, ri := range fleetView(t, h) {
		if ri.Connected || !ri.LastHeartbeat.IsZero() || ri.ConfigRevision != 0 {
			t.Fatalf("fleet view counts the foreign runner: %+v", ri)
		}
	}
}

// A runner configured as postee-runner-1 but holding postee-runner-2's
// certificate is postee-runner-2 to the server: every subject of
// postee-runner-1 it uses is refused, it gets no config and no work, and the
// real postee-runner-1 keeps getting its work.
func TestRunnerNameNotMatchingCertificate(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(`echo "$POSTEE_EVENT_ID" >> `+out)))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })
	impostor := newRunner(t, h, "postee-runner-1", "node-x", func(s *runner.Settings) {
		s.TLSCert, s.TLSKey = c.Path("postee-runner-2.crt"), c.Path("postee-runner-2.key")
	})
	impostor.opts.Timings.SliceGet = 50 * time.Millisecond // the refused bucket read: asks a controller soon, not in 2 s
	impostor.StartAsync()

	impostor.Logs.Wait(t, "nats error", "error", `Permissions Violation for Subscription to "$KV.posteed_slices.postee-runner-1"`)
	impostor.Logs.Wait(t, "nats error", "error", `Permissions Violation for Publish to "`+transport.SliceGet("postee-runner-1")+`"`)
	impostor.Logs.Wait(t, "nats error", "error", `Permissions Violation for Publish to "posteed.cfg.get.postee-runner-1"`)
	impostor.Logs.Wait(t, "nats error", "error", `Permissions Violation for Publish to "posteed.hb.postee-runner-1"`)

	var ids []string
	for i := range 5 {
		ids = append(ids, h.Post("/", trc1(t, i))["event_id"].(string))
	}
	fleettest.Eventually(t, "runner-1's work", func() bool { return len(fleettest.ReadLines(out)) == len(ids) })
	assertStable(t, func() bool { return exactlyOnce(countIDs(out), ids) == nil })
	if impostor.r.Revision() != 0 || impostor.Logs.Has("exec script finished") {
		t.Fatalf("impostor has config revision %d or ran work", impostor.r.Revision())
	}
	for _, ri := range fleetView(t, h) {
		if ri.Name == "postee-runner-1" && ri.Host != "node-1" {
			t.Fatalf("impostor heartbeats reached the fleet view: %+v", ri)
		}
		if ri.Name == "postee-runner-2" && ri.Connected {
			t.Fatalf("impostor reported as runner-2: %+v", ri)
		}
	}
}

// violations collects a connection's asynchronous errors.
func violations(ch chan error) nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case ch <- err:
		default:
		}
	})
}

func expectViolation(t *testing.T, errs <-chan error, kind, subject string) {
	t.Helper()
	want := `Permissions Violation for ` + kind + ` to "` + subject + `"`
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-errs:
			if strings.Contains(err.Error(), want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q reported", want)
		}
	}
}

// A plain nats.go client with postee-runner-2's certificate asks for
// postee-runner-1's config and pulls from its work queue: refused, while
// postee-runner-1 gets every job.
func TestSecondRunnerCannotTakeFirstRunnersWork(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(`echo "$POSTEE_EVENT_ID" >> `+out)))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })
	first := h.Post("/", trc1(t, 0))["event_id"].(string) // the work queue exists from here
	fleettest.Eventually(t, "first job", func() bool { return len(fleettest.ReadLines(out)) == 1 })

	errs := make(chan error, 64)
	nc, err := transport.Connect(context.Background(), transport.ConnOptions{
		URL: h.Ctrl.NATSURL(), Name: "postee-runner-2", CertFile: c.Path("postee-runner-2.crt"),
		KeyFile: c.Path("postee-runner-2.key"), CAFile: c.Path("ca.crt"),
	}, violations(errs))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	if _, err := nc.Request(transport.CfgGet("postee-runner-1"), nil, 300*time.Millisecond); err == nil {
		t.Fatal("runner-2 got runner-1's config")
	}
	expectViolation(t, errs, "Publish", transport.CfgGet("postee-runner-1"))

	js, err := jetstream.NewWithAPIPrefix(nc, transport.JSAPIPrefix)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := js.Consumer(ctx, transport.WorkStream, "postee-runner-1"); err == nil {
		t.Fatal("runner-2 looked up runner-1's work consumer")
	}
	expectViolation(t, errs, "Publish", transport.JSAPIPrefix+".CONSUMER.INFO.POSTEED_WORK.postee-runner-1")

	next := transport.JSAPIPrefix + ".CONSUMER.MSG.NEXT." + transport.WorkStream + ".postee-runner-1"
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest(next, inbox, []byte(`{"batch":10,"expires":1000000000}`)); err != nil {
		t.Fatal(err)
	}
	expectViolation(t, errs, "Publish", next)

	ids := []string{first}
	for i := 1; i <= 5; i++ {
		ids = append(ids, h.Post("/", trc1(t, i))["event_id"].(string))
	}
	fleettest.Eventually(t, "runner-1's work", func() bool { return len(fleettest.ReadLines(out)) == len(ids) })
	assertStable(t, func() bool { return exactlyOnce(countIDs(out), ids) == nil })
	if m, err := sub.NextMsg(10 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("runner-2 received %v (%v) on its pull inbox", m, err)
	}
}

// Permissions do not restrict a publish's reply subject, and the JetStream
// API answers there with the server's rights: postee-runner-2 asks for its
// own consumer's info and work with reply subjects of postee-runner-1 (its
// heartbeat, result, upstream and work subjects). The answers stay in the
// runners' account: none reaches the controller or runner-1's queue, which
// live in the fleet's account (were one to arrive, it names no sender, and
// the controller refuses it: TestRunnerMessagesNameTheirSender).
func TestReflectedAPIResponsesDoNotSpeakForAnotherRunner(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1", "postee-runner-2")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(`echo "$POSTEE_EVENT_ID" >> `+out)))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })

	nc, err := transport.Connect(context.Background(), transport.ConnOptions{
		URL: h.Ctrl.NATSURL(), Name: "postee-runner-2", CertFile: c.Path("postee-runner-2.crt"),
		KeyFile: c.Path("postee-runner-2.key"), CAFile: c.Path("ca.crt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Its own, well-formed heartbeat gives runner-2 a consumer to ask about.
	hb, _ := json.Marshal(transport.Status{Runner: "postee-runner-2", Host: "node-2", Time: time.Now()})
	if err := nc.Publish(transport.Heartbeat("postee-runner-2"), hb); err != nil {
		t.Fatal(err)
	}
	h.Logs.Wait(t, "runner connected", "runner", "postee-runner-2")

	info := transport.JSAPIPrefix + ".CONSUMER.INFO." + transport.WorkStream + ".postee-runner-2"
	next := transport.JSAPIPrefix + ".CONSUMER.MSG.NEXT." + transport.WorkStream + ".postee-runner-2"
	for _, reply := range []string{transport.Heartbeat("postee-runner-1"), transport.Result("postee-runner-1"),
		transport.Up("postee-runner-1"), transport.Work("postee-runner-1")} {
		for range 20 {
			for _, api := range []string{info, next} {
				if err := nc.PublishRequest(api, reply, []byte(`{"batch":1,"expires":1000000,"no_wait":true}`)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	assertStable(t, func() bool { return pendingOf(t, h, "postee-runner-1") == 0 && !h.Logs.Has("runner message refused") })

	id := h.Post("/", trc1(t, 0))["event_id"].(string)
	fleettest.Eventually(t, "runner-1's work", func() bool { return len(fleettest.ReadLines(out)) == 1 })
	if err := exactlyOnce(countIDs(out), []string{id}); err != nil {
		t.Fatal(err)
	}
	if r1.Logs.Has("work addressed to another runner") {
		t.Fatal("a reflected response reached runner-1's work queue")
	}
	for _, ri := range fleetView(t, h) {
		if ri.Name == "postee-runner-1" && (ri.Host != "node-1" || ri.Version == "") {
			t.Fatalf("a reflected response reached runner-1's fleet entry: %+v", ri)
		}
	}
}

// TestRunnerMessagesNameTheirSender: a message on runner-1's heartbeat,
// result or upstream subject that does not name runner-1 as its sender (a
// reflected API response, another runner's message) is refused and logged,
// and runner-1's fleet entry is untouched.
func TestRunnerMessagesNameTheirSender(t *testing.T) {
	dir := t.TempDir()
	c := fleettest.NewCerts(t, "postee-runner-1")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(`true`)))
	r1 := startRunner(t, h, "postee-runner-1", "node-1")
	fleettest.Eventually(t, "runner config", func() bool { return r1.r.Revision() == 1 })
	nc := h.FleetConn(t) // in the fleet's account, where such a message would arrive
	forged, _ := json.Marshal(transport.Status{Runner: "postee-runner-2", Host: "evil"})
	for _, tt := range []struct{ subject, kind string }{
		{transport.Heartbeat("postee-runner-1"), "heartbeat"},
		{transport.Result("postee-runner-1"), "result"},
		{transport.Up("postee-runner-1"), "upstream envelope"},
	} {
		for _, data := range [][]byte{forged, []byte(`{"type":"io.nats.jetstream.api.v1.consumer_info_response"}`)} {
			if err := nc.Publish(tt.subject, data); err != nil {
				t.Fatal(err)
			}
		}
		h.Logs.Wait(t, "runner message refused: not a well-formed "+tt.kind, "runner", "postee-runner-1")
	}
	for _, ri := range fleetView(t, h) {
		if ri.Name == "postee-runner-1" && ri.Host != "node-1" {
			t.Fatalf("a forged heartbeat reached runner-1's fleet entry: %+v", ri)
		}
	}
}
