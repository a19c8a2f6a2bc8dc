package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/internal/fleettest"
)

// unitRunner is a runner made by New but not run: tests call its methods
// directly. Its slices name the action local-post.
func unitRunner(t *testing.T, logs *fleettest.Logs) *Runner {
	t.Helper()
	dir := t.TempDir()
	r, err := New(t.Context(), Options{Logger: logs.Logger("r1"), Notifier: fleettest.NopNotifier{}, Hostname: "node-1", MachineID: "m-r1", Settings: Settings{
		Name: "r1", ControllerURL: "nats://" + fleettest.FreeAddr(t), URL: "127.0.0.1:0", StateDir: filepath.Join(dir, "state"),
		RuntimeDir: filepath.Join(dir, "run"), ConfigFile: filepath.Join(dir, "runner.toml"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.journal.Close()
		r.marks.Close()
		r.cfg.close()
	})
	return r
}

// unitSlice is a valid slice for r1 at rev in epoch; variant changes its
// content (and so its digest).
func unitSlice(t *testing.T, epoch string, rev int64, variant string) *transport.Slice {
	t.Helper()
	sl := benchSlice(t, "r1", "http://127.0.0.1:1/"+variant)
	sl.Epoch, sl.Revision = epoch, rev
	sl.Digest = transport.SliceDigest(sl)
	return sl
}

// localNATS connects to a plain NATS server on a random loopback port.
func localNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// fakeMsg is a work message that records how the runner settled it.
// The jetstream.Msg methods the runner must not call panic.
type fakeMsg struct {
	jetstream.Msg
	data    []byte
	mu      sync.Mutex
	settled []string // guarded by mu
}

func (m *fakeMsg) Data() []byte { return m.data }
func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}
func (m *fakeMsg) record(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settled = append(m.settled, s)
	return nil
}
func (m *fakeMsg) Ack() error                       { return m.record("ack") }
func (m *fakeMsg) DoubleAck(context.Context) error  { return m.record("ack") }
func (m *fakeMsg) Nak() error                       { return m.record("nak") }
func (m *fakeMsg) NakWithDelay(time.Duration) error { return m.record("nak") }
func (m *fakeMsg) Term() error                      { return m.record("term") }
func (m *fakeMsg) TermWithReason(string) error      { return m.record("term") }
func (m *fakeMsg) InProgress() error                { return nil }
func (m *fakeMsg) result() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.settled, ",")
}

// TestJobMissingAction: a job naming an action the runner lacks is retried
// while the runner's config may still bring it, and dropped, reported
// failed, once the runner is at the job's revision or later.
func TestJobMissingAction(t *testing.T) {
	logs := fleettest.NewLogs(t)
	r := unitRunner(t, logs)
	if err := r.cfg.apply(t.Context(), unitSlice(t, "e1", 5, "a")); err != nil {
		t.Fatal(err)
	}
	nc := localNATS(t)
	tm := r.opts.Timings
	w := newJobs(jobsDeps{Name: "r1", Link: &link{name: "r1", nc: nc, log: r.log}, Config: r.cfg, Exec: r.exec, Marks: r.marks,
		Metrics: r.metrics, Logger: r.log, StopBy: r.stopBy.get,
		KeepAlive: tm.KeepAlive, Request: tm.Request, WorkRetry: tm.WorkRetry, UnfinishedRetry: tm.UnfinishedRetry})
	results, err := nc.SubscribeSync(transport.Result("r1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Retried jobs come first: an outcome they wrongly sent would be taken
	// for a dropped job's and fail on its id.
	tests := []struct {
		name     string
		jobRev   int64
		jobEpoch string
		settled  string
	}{
		{"controller sends no revision", 0, "e1", "nak"},
		{"job newer than the runner's config", 6, "e1", "nak"},
		{"job from another controller epoch, older revision", 3, "e0", "term"},
		{"job at the runner's revision", 5, "e1", "term"},
		{"job older than the runner's config", 3, "e1", "term"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := transport.Job{Runner: "r1", ID: fmt.Sprintf("j%d", i), EventID: "ev", Route: "high-severity",
				Actions: []string{"local-post", "gone"}, Revision: tt.jobRev, Epoch: tt.jobEpoch}
			data, _ := json.Marshal(job)
			m := &fakeMsg{data: data}
			w.take(t.Context(), m)
			w.wg.Wait()
			if got := m.result(); got != tt.settled {
				t.Fatalf("job settled %q, want %q", got, tt.settled)
			}
			if tt.settled != "term" {
				return
			}
			msg, err := results.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("no outcome: %v", err)
			}
			var o transport.Outcome
			if err := json.Unmarshal(msg.Data, &o); err != nil || o.JobID != job.ID || !strings.Contains(o.Error, `"gone"`) {
				t.Fatalf("outcome %s (%v)", msg.Data, err)
			}
			if !logs.Contains("level=ERROR", "dropped", "action=gone", "event_id=ev") {
				t.Fatal("the dropped job was not logged")
			}
		})
	}
}
