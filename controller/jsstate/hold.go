package jsstate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
)

// Hold is engine.HoldStore in HoldBucket: one key per batch (route and
// source), shared by every controller and kept across their restarts.
//
// Several controllers add to and flush the same batches without locks of
// their own, by compare-and-set on the batch's key:
//   - Add appends to the batch; when it reaches its number the adder seals
//     it in the same write and hands it out.
//   - Due seals the batches whose timeout passed, and takes over batches
//     sealed long ago by a controller that died before it released them:
//     the batch keeps its id, so the actions its first owner ran are not
//     run again (engine.Marks).
//   - Messages added while a batch is sealed wait in its next batch, which
//     Release starts.
type Hold struct {
	kv    jetstream.KeyValue
	owner string // this controller, in the seal
	log   *slog.Logger
	now   func() time.Time
	stale time.Duration // a seal this old is taken over

	mu    sync.Mutex
	index map[string]heldIndex // guarded by mu: what the bucket holds, from its watch
}

type heldIndex struct {
	route    string
	first    time.Time // the oldest message's
	sealedAt time.Time // zero: open
	held     int       // messages waiting: an open batch's and the next one's
}

type holdValue struct {
	Gen      int64         `json:"gen"`
	Items    []engine.Held `json:"items"`
	Sealed   string        `json:"sealed,omitempty"`
	SealedAt int64         `json:"sealed_at,omitempty"` // unix ms
	Next     []engine.Held `json:"next,omitempty"`
}

// maxBatchBytes seals a batch early: a held batch must fit one message.
const maxBatchBytes = 2 << 20

var (
	_ engine.HoldStore   = (*Hold)(nil)
	_ engine.HeldCounter = (*Hold)(nil)
)

// NewHold follows the bucket until ctx ends; owner names this controller.
func NewHold(ctx context.Context, kv jetstream.KeyValue, owner string, log *slog.Logger) (*Hold, error) {
	h := &Hold{kv: kv, owner: owner, log: log, now: time.Now, stale: 2 * time.Minute, index: map[string]heldIndex{}}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("held messages: %w", err)
	}
	go h.follow(w)
	return h, nil
}

func (h *Hold) follow(w jetstream.KeyWatcher) {
	for e := range w.Updates() {
		if e == nil {
			continue // the initial values are in
		}
		h.mu.Lock()
		var v holdValue
		if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &v) != nil || len(v.Items) == 0 {
			delete(h.index, e.Key())
		} else {
			x := heldIndex{route: v.Items[0].Route, first: v.Items[0].At, held: len(v.Next)}
			if v.Sealed != "" {
				x.sealedAt = time.UnixMilli(v.SealedAt)
			} else {
				x.held += len(v.Items)
			}
			h.index[e.Key()] = x
		}
		h.mu.Unlock()
	}
}

// HeldByRoute implements engine.HeldCounter from the bucket's watch: the
// fleet's held messages, the same on every controller.
func (h *Hold) HeldByRoute() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for _, x := range h.index {
		if x.held > 0 {
			out[x.route] += x.held
		}
	}
	return out
}

// Durable implements engine.HoldStore: held messages survive restarts.
func (h *Hold) Durable() bool { return true }

func (h *Hold) get(ctx context.Context, key string) (holdValue, uint64, bool, error) {
	e, err := h.kv.Get(ctx, key)
	if notFound(err) {
		return holdValue{}, 0, false, nil
	}
	if err != nil {
		return holdValue{}, 0, false, fmt.Errorf("held messages: %w", err)
	}
	var v holdValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		h.log.Warn("unreadable batch of held messages replaced", "key", key, logx.Err(err))
		return holdValue{}, e.Revision(), true, nil
	}
	return v, e.Revision(), true, nil
}

// put writes v over revision rev (0 with exists false: creates the key).
func (h *Hold) put(ctx context.Context, key string, v holdValue, rev uint64, exists bool) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if exists {
		_, err = h.kv.Update(ctx, key, b, rev)
	} else {
		_, err = h.kv.Create(ctx, key, b)
	}
	return len(b), err
}

// Add implements engine.HoldStore.
func (h *Hold) Add(ctx context.Context, key string, m engine.Held, n int) (*engine.Batch, error) {
	for {
		v, rev, exists, err := h.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if v.Gen == 0 {
			v = holdValue{Gen: h.now().UnixNano()}
		}
		sealed := v.Sealed != ""
		if sealed {
			v.Next = appendHeld(v.Next, m)
		} else {
			v.Items = appendHeld(v.Items, m)
			if n > 0 && len(v.Items) >= n {
				v.Sealed, v.SealedAt = h.owner, h.now().UnixMilli()
			}
		}
		size, err := h.put(ctx, key, v, rev, exists)
		if conflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("held messages: %w", err)
		}
		if !sealed && v.Sealed == "" && size > maxBatchBytes {
			return h.seal(ctx, key, v.Gen) // too large to hold more: send now
		}
		if !sealed && v.Sealed != "" {
			return &engine.Batch{Key: key, Gen: v.Gen, Items: v.Items}, nil
		}
		return nil, nil
	}
}

// seal seals batch gen of key now, if it is still open.
func (h *Hold) seal(ctx context.Context, key string, gen int64) (*engine.Batch, error) {
	for {
		v, rev, exists, err := h.get(ctx, key)
		if err != nil || !exists || v.Gen != gen || v.Sealed != "" || len(v.Items) == 0 {
			return nil, err
		}
		v.Sealed, v.SealedAt = h.owner, h.now().UnixMilli()
		_, err = h.put(ctx, key, v, rev, true)
		if conflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("held messages: %w", err)
		}
		return &engine.Batch{Key: key, Gen: v.Gen, Items: v.Items}, nil
	}
}

func appendHeld(list []engine.Held, m engine.Held) []engine.Held {
	if len(list) > 0 {
		list[len(list)-1].Event = nil // only the newest message's event is kept
	}
	return append(list, m)
}

// Due implements engine.HoldStore.
func (h *Hold) Due(ctx context.Context, now time.Time, timeout func(route string) time.Duration) ([]*engine.Batch, error) {
	h.mu.Lock()
	var keys []string
	for key, x := range h.index {
		t := timeout(x.route)
		open := x.sealedAt.IsZero()
		if open && (t < 0 || (t > 0 && now.Sub(x.first) >= t)) || !open && now.Sub(x.sealedAt) >= h.stale {
			keys = append(keys, key)
		}
	}
	h.mu.Unlock()
	var out []*engine.Batch
	for _, key := range keys {
		b, err := h.take(ctx, key, now, timeout)
		if err != nil {
			return out, err
		}
		if b != nil {
			out = append(out, b)
		}
	}
	return out, nil
}

// take seals key's batch when it is due, or takes over a stale seal.
func (h *Hold) take(ctx context.Context, key string, now time.Time, timeout func(string) time.Duration) (*engine.Batch, error) {
	for {
		v, rev, exists, err := h.get(ctx, key)
		if err != nil || !exists || len(v.Items) == 0 {
			return nil, err
		}
		t := timeout(v.Items[0].Route)
		switch {
		case v.Sealed == "" && (t < 0 || (t > 0 && now.Sub(v.Items[0].At) >= t)):
		case v.Sealed != "" && now.Sub(time.UnixMilli(v.SealedAt)) >= h.stale:
			h.log.Warn("taking over held messages a controller sealed and never sent", "sealed_by", v.Sealed, "messages", len(v.Items))
		default:
			return nil, nil // not due (any more)
		}
		v.Sealed, v.SealedAt = h.owner, now.UnixMilli()
		_, err = h.put(ctx, key, v, rev, true)
		if conflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("held messages: %w", err)
		}
		return &engine.Batch{Key: key, Gen: v.Gen, Items: v.Items}, nil
	}
}

// Release implements engine.HoldStore.
func (h *Hold) Release(ctx context.Context, b *engine.Batch) error {
	for {
		v, rev, exists, err := h.get(ctx, b.Key)
		if err != nil || !exists || v.Gen != b.Gen || v.Sealed == "" {
			return err // released already
		}
		if len(v.Next) == 0 {
			err = h.kv.Delete(ctx, b.Key, jetstream.LastRevision(rev))
		} else {
			_, err = h.put(ctx, b.Key, holdValue{Gen: h.now().UnixNano(), Items: v.Next}, rev, true)
		}
		if conflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("held messages: %w", err)
		}
		return nil
	}
}
