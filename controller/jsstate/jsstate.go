// Package jsstate keeps the fleet's state in JetStream, where every
// controller sharing the NATS servers sees the same: key-value buckets for
// the runners' config slices, the runner registry, the hosts each runner is
// entitled to, the published config revision, the deduplication window,
// the messages held for aggregation and the record of the actions run
// (engine.Marks); streams for the events to handle and the work queued for
// runners (controller/natsd). Nothing here lives in one process's memory.
package jsstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/transport"
)

// Buckets.
const (
	SliceBucket  = transport.SliceBucket // runner name → its config slice
	RunnerBucket = "posteed_runners"     // runner name → its registry entry
	HostBucket   = "posteed_hosts"       // runner name → the hosts it may act for
	ConfigBucket = "posteed_config"      // "published" → the config revision in force
	DedupBucket  = "posteed_dedup"       // unique-message-props key → when it expires
	HoldBucket   = "posteed_held"        // aggregation batch → its held messages
	MarkBucket   = "posteed_marks"       // step → started or done
	CtlBucket    = "posteed_controllers" // controller id → its liveness
)

// Options size the state. Zero values take the defaults.
type Options struct {
	// Replicas of every bucket (1 on a single server, 3 on a cluster).
	Replicas int
	// DedupBytes, HoldBytes and MarkBytes bound the buckets that grow with
	// traffic; past them the oldest entries go (a duplicate may then be
	// sent, a very old record be forgotten).
	DedupBytes, MarkBytes int64
	// HoldBytes bounds the held messages; past it a message is sent on its
	// own rather than held.
	HoldBytes int64
}

func (o Options) withDefaults() Options {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DedupBytes <= 0 {
		o.DedupBytes = 64 << 20
	}
	if o.MarkBytes <= 0 {
		o.MarkBytes = 256 << 20
	}
	if o.HoldBytes <= 0 {
		o.HoldBytes = 256 << 20
	}
	return o
}

// State is the fleet's buckets.
type State struct {
	Slices, Runners, Hosts, Config, Dedup, Hold, Marks, Controllers jetstream.KeyValue
}

// Open creates or updates every bucket.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*State, error) {
	o = o.withDefaults()
	kv := func(name, about string, bytes int64, ttl time.Duration, discardOld bool) (jetstream.KeyValue, error) {
		if b, ok := current(ctx, js, name, bytes, ttl, o.Replicas, discardOld); ok {
			return b, nil // as configured: no change through the meta leader
		}
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, Description: about, History: 1, MaxBytes: bytes, TTL: ttl,
			Storage: jetstream.FileStorage, Replicas: o.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", name, err)
		}
		if discardOld {
			if err := discardOldest(ctx, js, name); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	var s State
	var err error
	open := func(dst *jetstream.KeyValue, name, about string, bytes int64, ttl time.Duration, discardOld bool) {
		if err == nil {
			*dst, err = kv(name, about, bytes, ttl, discardOld)
		}
	}
	open(&s.Slices, SliceBucket, "each runner's config slice", -1, 0, false)
	open(&s.Runners, RunnerBucket, "the runner registry: last status of each runner", -1, 0, false)
	open(&s.Hosts, HostBucket, "the hosts each runner's certificate entitles it to", -1, 0, false)
	open(&s.Config, ConfigBucket, "the config revision in force", -1, 0, false)
	open(&s.Dedup, DedupBucket, "unique-message-props: when each combination may be sent again", o.DedupBytes, 30*24*time.Hour, true)
	open(&s.Hold, HoldBucket, "messages held for aggregation, by route and source", o.HoldBytes, 0, false)
	open(&s.Marks, MarkBucket, "the actions run for each event (started, done)", o.MarkBytes, 7*24*time.Hour, true)
	open(&s.Controllers, CtlBucket, "the controllers sharing the fleet, rewritten while they live", -1, 24*time.Hour, false)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// current is bucket name when it exists with these settings.
func current(ctx context.Context, js jetstream.JetStream, name string, bytes int64, ttl time.Duration, replicas int, discardOld bool) (jetstream.KeyValue, bool) {
	st, err := js.Stream(ctx, "KV_"+name)
	if err != nil {
		return nil, false
	}
	c := st.CachedInfo().Config
	if c.MaxBytes != bytes || c.MaxAge != ttl || c.Replicas != replicas || (c.Discard == jetstream.DiscardOld) != discardOld {
		return nil, false
	}
	b, err := js.KeyValue(ctx, name)
	return b, err == nil
}

// discardOldest makes a full bucket drop its oldest entries rather than
// refuse new ones: for the dedup window and the run records, forgetting the
// oldest is the lesser harm.
func discardOldest(ctx context.Context, js jetstream.JetStream, bucket string) error {
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Discard == jetstream.DiscardOld {
		return nil
	}
	cfg.Discard = jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return nil
}

// notFound reports a key that is not there (or was deleted).
func notFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}

// conflict reports a compare-and-set that lost to another writer.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// NotFound reports a key that is not there (or was deleted).
func NotFound(err error) bool { return notFound(err) }

// Conflict reports a compare-and-set that lost to another writer.
func Conflict(err error) bool { return conflict(err) }
