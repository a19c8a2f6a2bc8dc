package controller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestWorkMetrics: the controller counts the job it dispatches and shows
// it in the work stream; a job delivered twice (taken once and handed
// back, as a runner that crashed holding it would) is counted by the
// runner that gets it again, which counts the action it runs.
func TestWorkMetrics(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exec.out")
	c := fleettest.NewCerts(t, "postee-runner-1")
	h := fleettest.StartController(t, c, fleettest.WriteCfg(t, dir, workCfg(fmt.Sprintf(`echo "$POSTEE_EVENT_ID" >> %s`, out))))
	admin := h.Ctrl.AdminAddr()
	id := h.Post("/", trc1(t, 0))["event_id"].(string)
	fleettest.Eventually(t, "the job dispatched and queued", func() bool {
		fams := scrape(t, admin)
		return value(fams, "posteed_work_dispatched_total", "runner=postee-runner-1") == 1 &&
			value(fams, "posteed_jetstream_stream_messages", "stream="+transport.WorkStream) == 1
	})
	fams := scrape(t, admin)
	if v := value(fams, "posteed_nats_connected"); v != 1 {
		t.Errorf("posteed_nats_connected = %v, want 1", v)
	}
	if v := value(fams, "posteed_jetstream_stream_bytes", "stream="+transport.WorkStream); v <= 0 {
		t.Errorf("posteed_jetstream_stream_bytes{stream=%s} = %v, want the job's size", transport.WorkStream, v)
	}
	if v := value(fams, "posteed_jetstream_stream_messages", "stream=KV_posteed_config"); v < 1 {
		t.Errorf("the config bucket's stream: %v messages, want the published revision", v)
	}

	handBack(t, h, "postee-runner-1")
	rh := startRunner(t, h, "postee-runner-1", "node-1", func(s *runner.Settings) { s.Admin = "127.0.0.1:0" })
	fleettest.Eventually(t, "the job run once", func() bool { return countIDs(out)[id] == 1 })
	fleettest.Eventually(t, "the run counted by the runner", func() bool { // after the script's output
		return value(scrape(t, rh.r.AdminAddr()), "posteed_action_runs_total", "action=runner-exec", "type=exec", "outcome=ok") == 1
	})
	if v := value(scrape(t, rh.r.AdminAddr()), "posteed_work_redelivered_total", "runner=postee-runner-1"); v != 1 {
		t.Errorf("posteed_work_redelivered_total on the runner = %v, want 1", v)
	}
	fleettest.Eventually(t, "the work stream empty once the job is acked", func() bool {
		return value(scrape(t, admin), "posteed_jetstream_stream_messages", "stream="+transport.WorkStream) == 0
	})
	if v := value(scrape(t, admin), "posteed_work_dispatched_total", "runner=postee-runner-1"); v != 1 {
		t.Errorf("posteed_work_dispatched_total = %v after the run, want 1", v)
	}
}

// handBack takes runner's next job from its queue and hands it back
// unacked: JetStream delivers it again.
func handBack(t *testing.T, h *fleettest.Controller, runner string) {
	t.Helper()
	js, err := jetstream.New(h.FleetConn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, transport.WorkStream, runner)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := <-msgs.Messages()
	if !ok {
		t.Fatalf("no job for %s: %v", runner, msgs.Error())
	}
	if err := m.Nak(); err != nil {
		t.Fatal(err)
	}
}

const pluginsCfg = `
routes:
- name: once
  input: contains(input.SigMetadata.ID, "TRC-")
  actions: [note]
  template: raw-json
  plugins:
    unique-message-props: ["SigMetadata.ID"]
    unique-message-timeout: 1h
- name: digest
  input: contains(input.SigMetadata.ID, "TRC-")
  actions: [note]
  template: raw-json
  plugins:
    aggregate-message-number: 5
templates:
- {name: raw-json, rego-package: postee.rawmessage.json}
actions:
- name: note
  type: exec
  enable: true
  exec-script: echo "$POSTEE_EVENT_ID" >> %q
`

// TestPluginMetrics: a duplicate dropped is counted once by the controller
// that dropped it, and the messages held are the fleet's: two controllers
// sharing a cluster both show the same count.
func TestPluginMetrics(t *testing.T) {
	setups := []struct {
		name  string
		start func(t *testing.T, cfg string) []*controller.Controller
	}{
		{"standalone", func(t *testing.T, cfg string) []*controller.Controller {
			return []*controller.Controller{startStandalone(t, cfg)}
		}},
		{"embedded", func(t *testing.T, cfg string) []*controller.Controller {
			return []*controller.Controller{fleettest.StartController(t, fleettest.NewCerts(t), cfg).Ctrl}
		}},
		{"cluster", func(t *testing.T, cfg string) []*controller.Controller {
			nc := newNATSCluster(t, fleettest.NewCerts(t))
			return []*controller.Controller{nc.controller(t, cfg).Ctrl, nc.controller(t, cfg).Ctrl}
		}},
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "exec.out")
			ctls := s.start(t, fleettest.WriteCfg(t, dir, fmt.Sprintf(pluginsCfg, out)))
			// sum is the fleet's total (a series a controller lacks is 0)
			// and each controller's value.
			sum := func(name string, labels ...string) (total float64, each []float64) {
				for _, c := range ctls {
					v := value(scrape(t, c.AdminAddr()), name, labels...)
					total += max(v, 0)
					each = append(each, v)
				}
				return total, each
			}
			if _, each := sum("posteed_aggregation_held", "route=digest"); !allEqual(each, 0) {
				t.Fatalf("posteed_aggregation_held{route=digest} before any event: %v, want 0 on every controller", each)
			}
			for n := range 2 { // the same SigMetadata.ID: the second is a duplicate
				fleettest.PostJSON(t, "http://"+ctls[n%len(ctls)].HTTPAddr()+"/", trc1(t, n))
			}
			fleettest.Eventually(t, "the duplicate dropped once, both messages held", func() bool {
				dropped, _ := sum("posteed_dedup_dropped_total", "route=once")
				_, held := sum("posteed_aggregation_held", "route=digest")
				return dropped == 1 && allEqual(held, 2)
			})
			fleettest.Eventually(t, "the first message of once sent", func() bool { return len(fleettest.ReadLines(out)) == 1 })
		})
	}
}

func allEqual(vs []float64, want float64) bool {
	for _, v := range vs {
		if v != want {
			return false
		}
	}
	return len(vs) > 0
}
