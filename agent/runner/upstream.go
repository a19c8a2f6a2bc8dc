package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
)

// upstream sends the journal to the controller: every entry in order,
// published to POSTEED_UP with the event id as message id (JetStream drops
// a resend), the cursor moved only past entries JetStream acknowledged.
type upstream struct {
	deps    upstreamDeps
	j       *journal
	log     *slog.Logger
	kick    chan struct{} // the controller is reachable again: retry now
	pending atomic.Int64
	dropped atomic.Int64 // entries that could never be sent
}

type upstreamDeps struct {
	Journal *journal
	Logger  *slog.Logger
	// Send delivers one entry; an *unsendableError gives it up.
	Send func(ctx context.Context, entry []byte) error
	// RetryMin and RetryMax bound the backoff after a failed send;
	// SaveEvery spaces the cursor's saves while it moves (Timings
	// RetryMin, RetryMax and DiskSync).
	RetryMin, RetryMax, SaveEvery time.Duration
}

var _ part = (*upstream)(nil)

func newUpstream(d upstreamDeps) *upstream {
	u := &upstream{deps: d, j: d.Journal, log: d.Logger, kick: make(chan struct{}, 1)}
	u.pending.Store(u.j.CountFrom(u.j.Cursor(cursorUp)))
	return u
}

// unsendableError marks an entry the controller can never take (larger than
// its largest message, or unreadable): it is dropped rather than retried
// forever with every later event held behind it.
type unsendableError struct {
	eventID string
	err     error
}

func (e *unsendableError) Error() string { return "entry can never be sent: " + e.err.Error() }
func (e *unsendableError) Unwrap() error { return e.err }

// Kick ends the pause after a failed send.
func (u *upstream) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// appended counts an entry added to the journal.
func (u *upstream) appended() { u.pending.Add(1) }

// Pending is how many entries wait to be sent.
func (u *upstream) Pending() int64 { return u.pending.Load() }

// Dropped is how many entries were given up as unsendable since the start.
func (u *upstream) Dropped() int64 { return u.dropped.Load() }

// Run sends until ctx is done.
func (u *upstream) Run(ctx context.Context) {
	off := u.j.Cursor(cursorUp)
	backoff := u.deps.RetryMin
	lastSave := time.Now()
	for ctx.Err() == nil {
		next, err := u.j.Read(off, 256, func(_ int64, entry []byte) error {
			if err := u.deps.Send(ctx, entry); err != nil && !u.drop(err, len(entry)) {
				return err
			}
			u.pending.Add(-1)
			return nil
		})
		if next != off {
			off = next
			backoff = u.deps.RetryMin
			if end, _ := u.j.End(); off == end || time.Since(lastSave) > u.deps.SaveEvery {
				u.saveCursor(off)
				lastSave = time.Now()
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				u.log.Warn("upstream send failed; events stay spooled", "pending", u.Pending(), logx.Err(err))
			}
			select {
			case <-ctx.Done():
			case <-u.kick:
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, u.deps.RetryMax)
			continue
		}
		u.j.wait(ctx, off, u.kick)
	}
	u.saveCursor(off)
}

func (u *upstream) saveCursor(off int64) {
	if err := u.j.SetCursor(cursorUp, off); err != nil {
		u.log.Warn("spool position not saved; events may be sent again (the controller drops them)", logx.Err(err))
	}
}

// drop reports whether err gives the entry up for good, and then logs and
// counts it: the events behind it go on.
func (u *upstream) drop(err error, size int) bool {
	var ue *unsendableError
	if !errors.As(err, &ue) {
		return false
	}
	u.dropped.Add(1)
	u.log.Error("spooled event dropped: the controller can never take it", "event_id", ue.eventID, "size", size, logx.Err(ue.err))
	return true
}

// publish publishes a spooled envelope and waits for JetStream's ack.
func (l *link) publish(ctx context.Context, entry []byte) error {
	id, err := envelopeID(entry)
	if err != nil {
		return &unsendableError{err: err}
	}
	if !l.connected() {
		return errors.New("controller unreachable")
	}
	msg := nats.NewMsg(transport.Up(l.name))
	msg.Data = entry
	msg.Header.Set(jetstream.MsgIDHeader, id)
	ctx, cancel := context.WithTimeout(ctx, l.deps.Request)
	defer cancel()
	_, err = l.js.PublishMsg(ctx, msg)
	if tooLarge(err) {
		return &unsendableError{eventID: id, err: err}
	}
	return err
}

// envelopeID is the event id of a spooled envelope. The envelopes this
// runner writes name it before the event, so it is found without parsing
// the (possibly large) event.
func envelopeID(entry []byte) (string, error) {
	const key = `"event_id":"`
	if i := bytes.Index(entry, []byte(key)); i >= 0 {
		rest := entry[i+len(key):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			return string(rest[:j]), nil
		}
	}
	var env struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(entry, &env); err != nil || env.EventID == "" {
		return "", fmt.Errorf("unreadable spool entry: no event id (%v)", err)
	}
	return env.EventID, nil
}

// tooLarge reports whether a publish failed for the message's size, which
// no retry changes: over the server's max payload (checked by the client,
// or refused by the server) or over the stream's largest message.
func tooLarge(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) ||
		strings.Contains(strings.ToLower(err.Error()), "maximum payload"))
}
