package natsd

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
)

const (
	// DedupeWindow is how long a Nats-Msg-Id is remembered: long enough for
	// a runner's spool to resend after a short controller outage.
	DedupeWindow = 10 * time.Minute
	// MaxAge bounds how long work waits for a runner that never comes (a
	// misspelt runs-on, a decommissioned host) and how long runner events
	// wait for a controller: the queues cannot grow without end.
	MaxAge = 7 * 24 * time.Hour
	// DefaultAckWait is how long a runner may work on one message before it
	// is redelivered; long actions should send InProgress.
	DefaultAckWait = 2 * time.Minute
)

// Limits bound the JetStream store so that one runner that is down (or a
// runner reflecting API responses onto another's queue) cannot fill the
// state disk and stop dispatch to every runner. Zero fields take the
// defaults.
type Limits struct {
	WorkMaxBytes      int64 // all of POSTEED_WORK
	RunnerMaxMessages int64 // one runner's queue, posteed.work.<runner>
	UpMaxBytes        int64 // all of POSTEED_UP
	EventsMaxBytes    int64 // all of POSTEED_EVENTS
	// Replicas of every stream: 1 on one server, 3 on a cluster.
	Replicas int
}

// Defaults: 1 GiB of work and 1 GiB of runner events fit a state disk of a
// few GiB; 10,000 jobs per runner is days of alerts for one host.
const (
	DefaultWorkMaxBytes      = 1 << 30
	DefaultRunnerMaxMessages = 10000
	DefaultUpMaxBytes        = 1 << 30
	DefaultEventsMaxBytes    = 1 << 30
)

// The stream of the events the controllers take over HTTP, kept from the
// moment the producer is answered until a controller handled them.
const (
	EventsStream  = "POSTEED_EVENTS"
	EventsSubject = "posteed.ev.in"
)

// SizedFor fills the zero byte limits for a store in dir: the default,
// or an eighth of dir's filesystem when that is less (never under 64 MiB,
// so one large event still fits), so that the three streams together take
// at most about 3/8 of a small state disk.
func (l Limits) SizedFor(dir string) Limits {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		// Not made yet: its parent's filesystem, most likely the same.
		if err := syscall.Statfs(filepath.Dir(dir), &st); err != nil {
			return l
		}
	}
	size := int64(st.Blocks) * int64(st.Bsize)
	fit := max(min(int64(DefaultWorkMaxBytes), size/8), 64<<20)
	for _, f := range []*int64{&l.WorkMaxBytes, &l.UpMaxBytes, &l.EventsMaxBytes} {
		if *f <= 0 {
			*f = fit
		}
	}
	return l
}

// WithDefaults fills zero fields.
func (l Limits) WithDefaults() Limits {
	if l.WorkMaxBytes <= 0 {
		l.WorkMaxBytes = DefaultWorkMaxBytes
	}
	if l.RunnerMaxMessages <= 0 {
		l.RunnerMaxMessages = DefaultRunnerMaxMessages
	}
	if l.UpMaxBytes <= 0 {
		l.UpMaxBytes = DefaultUpMaxBytes
	}
	if l.EventsMaxBytes <= 0 {
		l.EventsMaxBytes = DefaultEventsMaxBytes
	}
	if l.Replicas <= 0 {
		l.Replicas = 1
	}
	return l
}

// MaxRunners bounds POSTEED_WORK's consumers, one per runner. Set on the
// stream because nats-server 2.15 and later default a stream without its
// own limit to 1,000 consumers: a fleet's runner 1,001 would get no work.
const MaxRunners = 100_000

// WorkStreamConfig is POSTEED_WORK. Work-queue retention: a message is
// deleted once acked, and the server refuses a second consumer on the same
// runner's subject, which is exactly "one durable queue per runner". A full
// runner queue or stream refuses new work (discard new): queued work is
// never dropped for newer.
func WorkStreamConfig(l Limits) jetstream.StreamConfig {
	l = l.WithDefaults()
	return jetstream.StreamConfig{
		MaxBytes:             l.WorkMaxBytes,
		MaxMsgsPerSubject:    l.RunnerMaxMessages,
		MaxConsumers:         MaxRunners,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		Name:                 transport.WorkStream,
		Description:          "work dispatched to runners, one durable consumer per runner",
		Subjects:             []string{transport.AllWork},
		Retention:            jetstream.WorkQueuePolicy,
		Storage:              jetstream.FileStorage,
		Duplicates:           DedupeWindow,
		MaxAge:               MaxAge,
		Replicas:             l.Replicas,
	}
}

// UpStreamConfig is POSTEED_UP. Work-queue retention too: an event is kept
// until the controller's consumer acked it, then dropped.
func UpStreamConfig(l Limits) jetstream.StreamConfig {
	l = l.WithDefaults()
	return jetstream.StreamConfig{
		MaxBytes:    l.UpMaxBytes,
		Discard:     jetstream.DiscardNew,
		Name:        transport.UpStream,
		Description: "events reported by runners, until the controller handled them",
		Subjects:    []string{transport.AllUp},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DedupeWindow,
		MaxAge:      MaxAge,
		Replicas:    l.Replicas,
	}
}

// EventsStreamConfig is POSTEED_EVENTS: work-queue retention, an event is
// kept until a controller handled it and acked it.
func EventsStreamConfig(l Limits) jetstream.StreamConfig {
	l = l.WithDefaults()
	return jetstream.StreamConfig{
		MaxBytes:    l.EventsMaxBytes,
		Discard:     jetstream.DiscardNew,
		Name:        EventsStream,
		Description: "events taken over HTTP, until a controller handled them",
		Subjects:    []string{EventsSubject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  DedupeWindow,
		MaxAge:      MaxAge,
		Replicas:    l.Replicas,
	}
}

// EnsureStreams creates or updates POSTEED_WORK, POSTEED_UP and
// POSTEED_EVENTS.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l Limits) error {
	for _, cfg := range []jetstream.StreamConfig{WorkStreamConfig(l), UpStreamConfig(l), EventsStreamConfig(l)} {
		if st, err := js.Stream(ctx, cfg.Name); err == nil && same(st.CachedInfo().Config, cfg) {
			continue // as configured: no change through the meta leader
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// same reports whether a stream has the settings of want that posteed sets.
func same(have, want jetstream.StreamConfig) bool {
	return limit(have.MaxBytes) == limit(want.MaxBytes) && limit(have.MaxMsgsPerSubject) == limit(want.MaxMsgsPerSubject) &&
		limit(int64(have.MaxConsumers)) == limit(int64(want.MaxConsumers)) &&
		have.DiscardNewPerSubject == want.DiscardNewPerSubject && have.Replicas == want.Replicas &&
		have.MaxAge == want.MaxAge && have.Duplicates == want.Duplicates && have.Discard == want.Discard &&
		have.Retention == want.Retention && slices.Equal(have.Subjects, want.Subjects) && have.Description == want.Description
}

// limit is a stream limit with "none" as -1: servers report an unset limit
// as -1 (2.10) or 0.
func limit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// EnsureRunnerConsumer creates or updates runner's durable pull consumer on
// POSTEED_WORK. ackWait 0 means DefaultAckWait.
func EnsureRunnerConsumer(ctx context.Context, js jetstream.JetStream, runner string, ackWait time.Duration) (jetstream.Consumer, error) {
	if err := transport.ValidName(runner); err != nil {
		return nil, err
	}
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	c, err := js.CreateOrUpdateConsumer(ctx, transport.WorkStream, jetstream.ConsumerConfig{
		Durable:       runner,
		Description:   "work for runner " + runner,
		FilterSubject: transport.Work(runner),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", runner, transport.WorkStream, err)
	}
	// On a cluster a new consumer answers pulls once it has a leader; a
	// runner's pull before that would go nowhere until it times out.
	for {
		info, err := c.Info(ctx)
		if err == nil && (info.Cluster == nil || info.Cluster.Leader != "") {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("consumer %s on %s has no leader: %w", runner, transport.WorkStream, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
