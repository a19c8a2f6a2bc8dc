package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
)

// The runner's side of the channel as functions of its NATS connection:
// reading its slice, heartbeats, results and its work queue. The runner's
// link and jobs use them; the fleet simulation (internal/fleetsim) drives
// thousands of runners with them, without the rest of a runner.

// FetchSlice reads runner name's current slice with the default timeouts
// (see SliceFetch).
func FetchSlice(ctx context.Context, nc *nats.Conn, name string, log *slog.Logger) ([]byte, error) {
	return SliceFetch{}.Fetch(ctx, nc, name, log)
}

// SliceFetch reads a runner's current slice: from the fleet's bucket
// (direct get: any NATS server answers, no controller needed), or, when it
// has none for this runner yet, from a controller, which stores it there.
// Zero timeouts take the runner's defaults (Timings).
type SliceFetch struct {
	Get     time.Duration // the bucket's answer (Timings.SliceGet)
	Request time.Duration // a controller's answer (Timings.Request)
}

// Fetch reads runner name's current slice.
func (f SliceFetch) Fetch(ctx context.Context, nc *nats.Conn, name string, log *slog.Logger) ([]byte, error) {
	get, cancelGet := context.WithTimeout(ctx, cmp.Or(f.Get, defaultTimings.SliceGet))
	m, err := nc.RequestWithContext(get, transport.SliceGet(name), nil)
	cancelGet()
	if err == nil && m.Header.Get("Status") == "" && len(m.Data) > 0 {
		log.Info("config slice read from the fleet's bucket")
		return m.Data, nil
	}
	switch {
	case err != nil:
		log.Debug("config slice not read from the bucket; asking a controller", logx.Err(err))
	default:
		log.Debug("config slice not in the bucket; asking a controller", "status", m.Header.Get("Status"), "description", m.Header.Get("Description"))
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(f.Request, defaultTimings.Request))
	defer cancel()
	req, _ := json.Marshal(transport.CfgRequest{Runner: name})
	m, err = nc.RequestWithContext(ctx, transport.CfgGet(name), req)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// SendStatus publishes runner name's heartbeat.
func SendStatus(nc *nats.Conn, name string, st transport.Status) {
	st.Runner = name
	b, _ := json.Marshal(st)
	_ = nc.Publish(transport.Heartbeat(name), b)
}

// SendHeartbeats publishes status() at once and then every interval until
// ctx is done.
func SendHeartbeats(ctx context.Context, nc *nats.Conn, name string, every time.Duration, status func() transport.Status) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		SendStatus(nc, name, status())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendOutcome tells the controller how runner name's job ended.
func SendOutcome(nc *nats.Conn, name string, o transport.Outcome) {
	o.Runner = name
	b, _ := json.Marshal(o)
	_ = nc.Publish(transport.Result(name), b)
}

// WorkQueue reads a runner's work: its durable consumer on POSTEED_WORK.
type WorkQueue struct {
	JS   jetstream.JetStream // with the runners' API prefix (transport.JSAPIPrefix)
	Name string              // the runner
	// MaxMessages is how many jobs are fetched ahead at most.
	MaxMessages int
	Log         *slog.Logger
	// Take receives every job; it may block (the consumer then fetches no
	// more).
	Take func(jetstream.Msg)
	// Stop ends consuming once ctx is done (nil: stop at once).
	Stop func(jetstream.ConsumeContext)
	// Consuming, when set, hears each time consuming (re)starts.
	Consuming func()
	// The waits; zero takes the runner's default (see Timings, same
	// names).
	WorkLookup, WorkRetry     time.Duration
	PullExpiry, PullHeartbeat time.Duration
}

// Run consumes until ctx is done. The controller creates the consumer with
// the runner's first heartbeat or work: until then it is looked for every
// WorkLookup.
func (q WorkQueue) Run(ctx context.Context) {
	d := defaultTimings
	lookup, retry := cmp.Or(q.WorkLookup, d.WorkLookup), cmp.Or(q.WorkRetry, d.WorkRetry)
	expiry, heartbeat := cmp.Or(q.PullExpiry, d.PullExpiry), cmp.Or(q.PullHeartbeat, d.PullHeartbeat)
	for ctx.Err() == nil {
		cons, err := q.JS.Consumer(ctx, transport.WorkStream, q.Name)
		if err != nil {
			q.Log.Debug("work queue not found yet", logx.Err(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(lookup):
				continue
			}
		}
		// Two missed heartbeats (the consumer's leader moved to another
		// server) make it pull again; no responders (a new consumer whose
		// leader is not reachable yet) after a lookup's wait.
		unanswered := make(chan struct{}, 1)
		cc, err := cons.Consume(q.Take, jetstream.PullMaxMessages(q.MaxMessages),
			jetstream.PullExpiry(expiry), jetstream.PullHeartbeat(heartbeat),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				q.Log.Debug("work queue", logx.Err(err))
				if errors.Is(err, nats.ErrNoResponders) {
					select {
					case unanswered <- struct{}{}:
					default:
					}
				}
			}))
		if err != nil {
			q.Log.Warn("cannot read work queue", logx.Err(err))
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			continue
		}
		if q.Consuming != nil {
			q.Consuming()
		}
		select {
		case <-ctx.Done():
			if q.Stop != nil {
				q.Stop(cc)
			} else {
				cc.Stop()
			}
			return
		case <-unanswered:
			cc.Stop()
			<-cc.Closed()
			select {
			case <-ctx.Done():
				return
			case <-time.After(lookup):
			}
		}
	}
}
