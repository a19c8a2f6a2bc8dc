package fleetsim

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/agent/transport"
)

// simRunner is one simulated runner: its own certificate and connection,
// the runner's protocol (agent/runner's FetchSlice, SendHeartbeats,
// WorkQueue, SendOutcome), and instead of compiling its slice and running
// actions it checks the slice, records when it arrived, acks each job and
// reports it done.
type simRunner struct {
	fleet *fleet
	name  string
	host  string
	log   *slog.Logger

	nc *nats.Conn
	js jetstream.JetStream

	mu  sync.Mutex                      // serializes applications
	cur atomic.Pointer[transport.Slice] // the slice in use

	appliedOnce sync.Once
	applied     chan struct{} // closed once a slice is in use
	consuming   atomic.Bool
}

// start connects the runner as postee-runner does (runner.dial): its
// certificate, its private inbox, the JetStream API under the runners'
// prefix, its slice's subject followed, and on each connection its slice
// read again.
func (r *simRunner) start(ctx context.Context, certFile, keyFile, caFile, url string) error {
	set := make(chan struct{})
	defer close(set)
	up := func() { go func() { <-set; r.fetch(ctx) }() }
	connUp := func(*nats.Conn) {
		r.fleet.connected.Add(1)
		up()
	}
	nc, err := transport.Connect(ctx, transport.ConnOptions{URL: url, Name: r.name, CertFile: certFile, KeyFile: keyFile, CAFile: caFile, Logger: r.log},
		nats.ConnectHandler(connUp), nats.ReconnectHandler(connUp),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			r.fleet.connected.Add(-1)
			if err != nil {
				r.fleet.disconnects.Add(1)
				r.log.Warn("disconnected from controller", logx.Err(err))
			}
		}))
	if err != nil {
		return err
	}
	r.nc = nc
	if r.js, err = jetstream.NewWithAPIPrefix(nc, transport.JSAPIPrefix); err != nil {
		nc.Close()
		return err
	}
	if _, err := nc.Subscribe(transport.CfgPush(r.name), func(m *nats.Msg) { r.receive(m.Data) }); err != nil {
		nc.Close()
		return err
	}
	if nc.IsConnected() {
		up() // as runner.dial does (the connect handler fires too)
	}
	go runner.SendHeartbeats(ctx, nc, r.name, r.fleet.heartbeat, r.status)
	go r.work(ctx)
	return nil
}

// fetch reads the slice in force, as a runner does when its connection
// comes up.
func (r *simRunner) fetch(ctx context.Context) {
	r.fleet.fetches.Add(1)
	b, err := runner.FetchSlice(ctx, r.nc, r.name, r.log)
	if err != nil {
		r.log.Warn("cannot fetch config from the controller", logx.Err(err))
		return
	}
	r.receive(b)
}

// receive checks a slice as configSync.apply does, without compiling it:
// its runner, its digest, not older than the one in use.
func (r *simRunner) receive(data []byte) {
	now := time.Now()
	var sl transport.Slice
	if err := json.Unmarshal(data, &sl); err != nil {
		r.log.Warn("config message that is not a slice ignored", logx.Err(err))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sl.Runner != r.name {
		r.log.Warn("config message for another runner ignored")
		return
	}
	if sl.Digest == "" || transport.SliceDigest(&sl) != sl.Digest {
		r.log.Warn("config message with a wrong digest ignored")
		return
	}
	cur := r.cur.Load()
	if cur != nil && sl.Epoch != "" && sl.Epoch == cur.Epoch && sl.Revision < cur.Revision {
		return // older
	}
	if cur != nil && cur.Revision == sl.Revision && cur.Digest == sl.Digest {
		return // the same again (the push and the read after a connection)
	}
	r.cur.Store(&sl)
	r.appliedOnce.Do(func() { close(r.applied) })
	r.fleet.noteApplied(cur == nil, sl.Revision, now)
	runner.SendStatus(r.nc, r.name, r.status()) // the controller hears the new revision at once
}

func (r *simRunner) status() transport.Status {
	r.fleet.heartbeats.Add(1)
	st := transport.Status{Host: r.host, MachineID: "m-" + r.name, Version: "fleetsim", Time: time.Now()}
	if c := r.cur.Load(); c != nil {
		st.ConfigRevision, st.ConfigDigest = c.Revision, c.Digest
	}
	return st
}

// work takes jobs once a slice is in use, as the runner's jobs do.
func (r *simRunner) work(ctx context.Context) {
	select {
	case <-r.applied:
	case <-ctx.Done():
		return
	}
	runner.WorkQueue{JS: r.js, Name: r.name, MaxMessages: runnerSlots, Log: r.log,
		Take: func(m jetstream.Msg) { go r.take(ctx, m) },
		Consuming: func() {
			if r.consuming.CompareAndSwap(false, true) {
				r.fleet.consuming.Add(1)
			}
		}}.Run(ctx)
}

// runnerSlots is a 2-CPU runner's max-concurrent-actions (4 per CPU, at
// least 4), how many jobs its consumer fetches ahead.
const runnerSlots = 8

// take handles a job as jobs.take and jobs.run do, the action's run left
// out: a job for another runner is terminated; others are acked (waiting
// for the server's confirmation) and reported done.
func (r *simRunner) take(ctx context.Context, m jetstream.Msg) {
	var job transport.Job
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		r.log.Error("unreadable work dropped", logx.Err(err))
		_ = m.Term()
		return
	}
	if job.Runner != r.name {
		r.log.Warn("work addressed to another runner terminated without running")
		_ = m.Term()
		return
	}
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err := m.DoubleAck(ackCtx)
	cancel()
	if err != nil && !errors.Is(err, context.Canceled) {
		r.log.Warn("work ack not confirmed", logx.Err(err))
	}
	runner.SendOutcome(r.nc, r.name, transport.Outcome{JobID: job.ID, EventID: job.EventID, Route: job.Route})
	r.fleet.jobDone(job.EventID, r.name, time.Now())
}

// stop closes the connection; the controller sees the runner go when its
// heartbeats stop (a clean stop's goodbye is left out: thousands at once
// would only measure the teardown).
func (r *simRunner) stop() {
	if r.nc != nil {
		r.nc.Close()
	}
}
