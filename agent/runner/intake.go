package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/daemon"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/intake/tracefile"
	"github.com/postee-fleet/posteed/agent/metrics"
)

// intake takes events in, from the webhook and from Tracee files, and
// appends each to the journal as the envelope the controller receives; the
// upstream and local readers take it from there.
type intake struct {
	name, host, machineID string
	j                     *journal
	cfg                   *configSync
	up                    *upstream
	local                 *local
	metrics               *metrics.Runner
	log                   *slog.Logger
	maxBacklog            int64 // journal bytes waiting for local actions before Tracee reading pauses
	// fits refuses (transport.ErrTooLarge) an envelope the controller's
	// server could never take: the event is refused, not spooled to be
	// dropped later.
	fits  func(size int) error
	poll  time.Duration // the backlog's look while Tracee reading is held
	files *traceeFiles  // the Tracee files followed

	gate     daemon.Gate // closed at the stop: no new events
	headOnce sync.Once
	head     []byte
}

type intakeDeps struct {
	Name, Host, MachineID string
	Journal               *journal
	Config                *configSync
	Up                    *upstream
	Local                 *local
	Metrics               *metrics.Runner
	Logger                *slog.Logger
	// Fits refuses (transport.ErrTooLarge) an envelope the controller's
	// server could never take.
	Fits func(size int) error
	// Tracee follows the Tracee files; its Handle and BeforeCommit are the
	// intake's.
	Tracee traceeDeps
	Poll   time.Duration // Timings.Poll
}

var _ part = (*intake)(nil)

func newIntake(d intakeDeps) (*intake, error) {
	in := &intake{name: d.Name, host: d.Host, machineID: d.MachineID, j: d.Journal, cfg: d.Config, up: d.Up, local: d.Local,
		metrics: d.Metrics, log: d.Logger, maxBacklog: 256 << 20, fits: d.Fits, poll: d.Poll}
	d.Tracee.Handle, d.Tracee.BeforeCommit = in.onLine, in.beforeCommit
	var err error
	in.files, err = newTraceeFiles(d.Tracee)
	return in, err
}

// Run follows the Tracee files until ctx is done; webhook events come in
// through Accept.
func (in *intake) Run(ctx context.Context) { in.files.Run(ctx) }

// Accept implements webhook.Sink: the event is in the journal, durably,
// before the producer is answered.
func (in *intake) Accept(ctx context.Context, raw []byte, route string) (string, []string, error) {
	in.metrics.EventsReceived.WithLabelValues(metrics.SourceWebhook).Inc()
	ev, err := engine.ParseEvent(raw, "")
	if err != nil {
		return "", nil, err
	}
	var names []string
	eng, rev := in.cfg.current()
	if eng != nil {
		routes, err := eng.Match(ctx, ev, route)
		if err != nil && !errors.Is(err, engine.ErrNoRoute) { // a route of the controller's, not ours
			return ev.ID, nil, err
		}
		for _, r := range routes {
			names = append(names, r.Name)
		}
	}
	var compact bytes.Buffer // the journal has one entry a line
	if err := json.Compact(&compact, raw); err != nil {
		return ev.ID, nil, err
	}
	if err := in.append(ev.ID, route, rev, compact.Bytes()); err != nil {
		return ev.ID, nil, err
	}
	if err := in.j.Sync(); err != nil {
		return ev.ID, nil, err
	}
	return ev.ID, names, nil
}

// onLine takes one Tracee line like a webhook event (the follower has
// checked it is one JSON value on one line). Its id derives from the line's
// place in its file, so a line read again is the same event everywhere.
func (in *intake) onLine(ctx context.Context, l tracefile.Line) error {
	for in.local.backlog() > in.maxBacklog {
		select { // the runner's own actions fall behind: hold the reading
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(in.poll):
		}
	}
	_, rev := in.cfg.current()
	if err := in.append(lineEventID(in.name, l.FileKey, l.Offset), "", rev, l.Data); err != nil {
		return err
	}
	in.metrics.TracefileEvents.Inc()
	in.metrics.TraceeLines.WithLabelValues(l.Pattern).Inc()
	return nil
}

// beforeCommit makes the lines taken in durable before the follower saves
// its offsets past them.
func (in *intake) beforeCommit() error { return in.j.Sync() }

func (in *intake) append(id, route string, rev int64, event []byte) error {
	if err := in.gate.Enter(); err != nil {
		return err
	}
	defer in.gate.Leave()
	in.headOnce.Do(func() { in.head = envelopeHead(in.name, in.host, in.machineID) })
	env := appendEnvelope(in.head, id, route, rev, event)
	if in.fits != nil {
		if err := in.fits(len(env)); err != nil {
			return err
		}
	}
	if _, err := in.j.Append(env); err != nil {
		return err
	}
	in.up.appended()
	return nil
}

// stop refuses new events from now on and waits for those being taken in.
func (in *intake) stop() {
	in.gate.Close()
	in.gate.Wait()
}

// eventField introduces the event, the last field of an envelope.
const eventField = `,"event":`

// envelopeHead is the constant start of this runner's envelopes.
func envelopeHead(runner, host, machineID string) []byte {
	head, _ := json.Marshal(struct {
		Runner    string `json:"runner"`
		Host      string `json:"host"`
		MachineID string `json:"machine_id,omitempty"`
	}{runner, host, machineID})
	return head[:len(head)-1]
}

// appendEnvelope is transport.Envelope's JSON for event (one line of
// JSON), built without decoding and re-encoding the event: its fields
// first, the event last (splitEnvelope relies on that). A line has no
// route.
func appendEnvelope(head []byte, id, route string, rev int64, event []byte) []byte {
	// Room for the fields and the journal's newline: no copy when it
	// appends one.
	b := make([]byte, 0, len(head)+len(id)+len(route)+len(event)+128)
	b = append(b, head...)
	b = append(b, `,"event_id":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"received":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if route != "" {
		rb, _ := json.Marshal(route)
		b = append(append(b, `,"route":`...), rb...)
	}
	b = append(b, `,"revision":`...)
	b = strconv.AppendInt(b, rev, 10)
	b = append(b, eventField...)
	b = append(b, event...)
	return append(b, '}')
}

// lineEventID names the line at off in the file fileKey, the same way on
// every read.
func lineEventID(runner, fileKey string, off int64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", runner, fileKey, off))
	return hex.EncodeToString(h[:16])
}
