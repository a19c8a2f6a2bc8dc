package jsstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/engine"
)

// Dedup is engine.DedupStore in DedupBucket: every controller sees the
// same window, and it survives their restarts. A key's value says when it
// expires and which event set it; the first writer of a key wins by
// compare-and-set.
type Dedup struct {
	KV  jetstream.KeyValue
	Now func() time.Time // default time.Now
}

var _ engine.DedupStore = (*Dedup)(nil)

type dedupEntry struct {
	Exp   int64  `json:"exp,omitempty"` // unix ms; 0: for good
	Event string `json:"event"`
}

// First implements engine.DedupStore.
func (d *Dedup) First(ctx context.Context, key string, ttl time.Duration, eventID string) (bool, error) {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	mine := dedupEntry{Event: eventID}
	if ttl > 0 {
		mine.Exp = now().Add(ttl).UnixMilli()
	}
	val, _ := json.Marshal(mine)
	for range 8 { // lost races retry; a key contended that often is a duplicate anyway
		_, err := d.KV.Create(ctx, key, val)
		if err == nil {
			return true, nil
		}
		if !conflict(err) {
			return false, fmt.Errorf("dedup window: %w", err)
		}
		e, err := d.KV.Get(ctx, key)
		if notFound(err) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("dedup window: %w", err)
		}
		var cur dedupEntry
		if json.Unmarshal(e.Value(), &cur) != nil {
			cur = dedupEntry{Exp: 1} // unreadable: taken as expired
		}
		switch {
		case cur.Event == eventID:
			return true, nil // this event, handled again
		case cur.Exp == 0 || now().UnixMilli() < cur.Exp:
			return false, nil
		}
		if _, err := d.KV.Update(ctx, key, val, e.Revision()); err == nil {
			return true, nil
		} else if !conflict(err) {
			return false, fmt.Errorf("dedup window: %w", err)
		}
	}
	return false, nil
}

// Marks is engine.Marks in MarkBucket: the record of which actions ran for
// which event, shared by every controller, so an event handled again by
// another controller after a crash runs only what was not done. A start
// names the controller that made it: while that controller is live (Alive)
// the step is left to it, since only it can tell from its own run record
// whether the interrupted action finished; a controller restarted with
// its state directory is the same controller.
type Marks struct {
	KV    jetstream.KeyValue
	Self  string            // this controller
	Alive func(string) bool // whether a controller is live; nil: none else is
}

var _ engine.Marks = Marks{}

// markKey turns a step key (event/route/action, any characters) into a key.
func markKey(step string) string {
	h := sha256.Sum256([]byte(step))
	return hex.EncodeToString(h[:20])
}

// Mark implements engine.Marks.
func (m Marks) Mark(ctx context.Context, step string) (engine.Mark, error) {
	e, err := m.KV.Get(ctx, markKey(step))
	switch {
	case notFound(err):
		return engine.MarkNone, nil
	case err != nil:
		return engine.MarkNone, fmt.Errorf("run record: %w", err)
	}
	v := string(e.Value())
	switch {
	case v == "D":
		return engine.MarkDone, nil
	case v == "S":
		return engine.MarkStarted, nil
	}
	if owner, ok := strings.CutPrefix(v, "S "); ok {
		if owner != m.Self && m.Alive != nil && m.Alive(owner) {
			return engine.MarkElsewhere, nil
		}
		return engine.MarkStarted, nil
	}
	return engine.MarkNone, nil
}

// SetMark implements engine.Marks.
func (m Marks) SetMark(ctx context.Context, step string, mk engine.Mark) error {
	v := "D"
	if mk == engine.MarkStarted {
		v = "S " + m.Self
	}
	if _, err := m.KV.Put(ctx, markKey(step), []byte(v)); err != nil {
		return fmt.Errorf("run record: %w", err)
	}
	return nil
}
