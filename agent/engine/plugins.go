package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/logx"
)

// Plugins is the engine's stateful stage, Postee's route plugins:
// unique-message-props (send a message once per combination of event
// properties per timeout) and aggregate-message-number/-timeout (hold a
// route's messages and send them as one). It owns that state through two
// stores, in memory on a runner and in JetStream on the controller, and
// outlives the engines a reload replaces.
type Plugins struct {
	dedup DedupStore
	hold  HoldStore
	log   *slog.Logger
	now   func() time.Time
	obs   PluginsObserver
	every time.Duration
}

// DedupStore remembers which unique-message-props combinations were sent.
type DedupStore interface {
	// First reports whether key is new, or expired, or was recorded for
	// the same eventID (the event handled again after a failure), and
	// records it for ttl (0: for good).
	First(ctx context.Context, key string, ttl time.Duration, eventID string) (bool, error)
}

// HoldStore keeps the messages held for aggregation, in batches: one per
// route and source. A batch that is due is sealed and handed out once;
// messages held meanwhile start the next batch when it is released.
type HoldStore interface {
	// Add holds h in the batch key. When the batch then holds n messages
	// (n > 0) it is sealed and returned.
	Add(ctx context.Context, key string, h Held, n int) (*Batch, error)
	// Due seals and returns the batches whose oldest message waited its
	// route's timeout (timeout < 0: every batch), and batches sealed long
	// ago and never released (their process died handling them).
	Due(ctx context.Context, now time.Time, timeout func(route string) time.Duration) ([]*Batch, error)
	// Release ends a sealed batch once its message was handled.
	Release(ctx context.Context, b *Batch) error
	// Durable reports whether held messages survive the process; if not,
	// they are sent when the daemon stops.
	Durable() bool
}

// Held is a message held for aggregation, as a HoldStore keeps it.
type Held struct {
	Route   string    `json:"route"`
	From    string    `json:"from,omitempty"`
	FromRan bool      `json:"from_ran,omitempty"`
	Host    string    `json:"host,omitempty"`
	EventID string    `json:"event_id"`
	Title   string    `json:"title"`
	Body    string    `json:"body"`
	URL     string    `json:"url,omitempty"`
	AggPkg  string    `json:"agg_pkg,omitempty"`
	At      time.Time `json:"at"`
	// Event is kept for the newest message only (the aggregated message's
	// event, for event.input substitution).
	Event json.RawMessage `json:"event,omitempty"`
}

// Batch is a sealed batch of held messages.
type Batch struct {
	Key   string
	Gen   int64
	Items []Held
}

// ID is the aggregated message's event id: the same for the same batch,
// so handling it again after a crash does not repeat its actions.
func (b *Batch) ID() string { return "agg-" + b.Key + "-" + strconv.FormatInt(b.Gen, 10) }

// PluginsObserver hears what the plugins stage did (metrics); optional.
// What it holds is read from the store when asked (Plugins.Held).
type PluginsObserver interface {
	// Deduplicated hears a message of route dropped as a duplicate.
	Deduplicated(route string)
}

// HeldCounter is a HoldStore that can count what it holds, for metrics.
type HeldCounter interface {
	// HeldByRoute returns a new map of the messages waiting in open
	// batches and behind sealed ones, by route; a sealed batch's own
	// messages are being sent, not held.
	HeldByRoute() map[string]int
}

// PluginsOptions are the stage's dependencies; zero values take defaults.
type PluginsOptions struct {
	Dedup    DedupStore // default: in memory
	Hold     HoldStore  // default: in memory
	Logger   *slog.Logger
	Now      func() time.Time
	Observer PluginsObserver
	// ScanEvery is how often held batches are checked against their
	// timeout; default 1 s.
	ScanEvery time.Duration
}

// NewPlugins returns the stage.
func NewPlugins(o PluginsOptions) *Plugins {
	p := &Plugins{dedup: o.Dedup, hold: o.Hold, log: o.Logger, now: o.Now, obs: o.Observer, every: o.ScanEvery}
	if p.now == nil {
		p.now = time.Now
	}
	if p.dedup == nil {
		p.dedup = NewMemDedup(p.now)
	}
	if p.hold == nil {
		p.hold = NewMemHold()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.every <= 0 {
		p.every = time.Second
	}
	return p
}

// Apply passes each match through deduplication and aggregation. It
// returns what to send now and what it kept back (duplicates and held
// messages), in order. A batch completed by a match comes back as its
// aggregated message; call Done once what Apply returned was handled.
func (p *Plugins) Apply(ctx context.Context, eng *Engine, ms []Match) (send, kept []Match, err error) {
	for _, m := range ms {
		r := m.Route
		if props := r.Plugins.UniqueMessageProps; len(props) > 0 {
			first, err := p.dedup.First(ctx, dedupKey(r.Name, props, m.ev), r.Plugins.UniqueMessageTimeout.D(), m.Msg.EventID)
			if err != nil {
				return nil, nil, fmt.Errorf("route %q: unique-message-props: %w", r.Name, err)
			}
			if !first {
				p.log.Debug("duplicate message skipped", "route", r.Name, "event_id", m.Msg.EventID)
				if p.obs != nil {
					p.obs.Deduplicated(r.Name)
				}
				kept = append(kept, m)
				continue
			}
		}
		if !r.Aggregates() {
			send = append(send, m)
			continue
		}
		b, err := p.hold.Add(ctx, holdKey(m), heldOf(m, p.now()), r.aggNumber())
		if err != nil {
			return nil, nil, fmt.Errorf("route %q: aggregation: %w", r.Name, err)
		}
		if b == nil {
			kept = append(kept, m)
			continue
		}
		send = append(send, p.aggregate(ctx, eng, b)...)
	}
	return send, kept, nil
}

// Held counts the messages held for aggregation now, by route: every
// route of eng that aggregates (0 when it holds none) and any route the
// store still holds messages of. Nil when the store cannot count.
func (p *Plugins) Held(eng *Engine) map[string]int {
	hc, ok := p.hold.(HeldCounter)
	if !ok {
		return nil
	}
	out := hc.HeldByRoute()
	if eng != nil {
		for _, r := range eng.Routes() {
			if _, ok := out[r.Name]; !ok && r.Aggregates() {
				out[r.Name] = 0
			}
		}
	}
	return out
}

// Due returns the aggregated messages of the batches whose timeout passed
// (every batch when all is set); call Done once they were handled.
func (p *Plugins) Due(ctx context.Context, eng *Engine, all bool) ([]Match, error) {
	timeout := func(route string) time.Duration {
		if all {
			return -1
		}
		if r, ok := eng.Route(route); ok && r.aggTimeout() > 0 {
			return r.aggTimeout()
		}
		if _, ok := eng.Route(route); !ok {
			return -1 // the route is gone: send what it held
		}
		return 0 // aggregates by number only
	}
	bs, err := p.hold.Due(ctx, p.now(), timeout)
	if err != nil {
		return nil, err
	}
	var out []Match
	for _, b := range bs {
		out = append(out, p.aggregate(ctx, eng, b)...)
	}
	return out, nil
}

// Run hands due batches to handle until ctx is done; engine gives the
// engine in use. On return, held messages that would not survive the
// process (an in-memory store) are handed over too.
func (p *Plugins) Run(ctx context.Context, engine func() *Engine, handle func(context.Context, []Match)) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if !p.hold.Durable() {
				p.flush(context.WithoutCancel(ctx), engine(), true, handle)
			}
			return
		case <-t.C:
			p.flush(ctx, engine(), false, handle)
		}
	}
}

func (p *Plugins) flush(ctx context.Context, eng *Engine, all bool, handle func(context.Context, []Match)) {
	if eng == nil {
		return
	}
	ms, err := p.Due(ctx, eng, all)
	if err != nil {
		p.log.Warn("held messages not checked; trying again", logx.Err(err))
		return
	}
	if len(ms) > 0 {
		handle(ctx, ms)
	}
}

// Done releases the batches behind aggregated messages that were handled.
func (p *Plugins) Done(ctx context.Context, ms []Match) {
	var seen []*Batch
	for _, m := range ms {
		if b := m.batch; b != nil && !containsBatch(seen, b) {
			seen = append(seen, b)
			if err := p.hold.Release(ctx, b); err != nil {
				p.log.Warn("aggregated batch not released; it will be handled again", "route", m.Route.Name, logx.Err(err))
			}
		}
	}
}

func containsBatch(list []*Batch, b *Batch) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// aggregate renders b with eng; a batch whose route is gone is dropped,
// logged.
func (p *Plugins) aggregate(ctx context.Context, eng *Engine, b *Batch) []Match {
	ms, err := eng.aggregate(ctx, b)
	if err != nil {
		p.log.Error("held messages not sent", "messages", len(b.Items), logx.Err(err))
		ms = nil
	}
	if len(ms) == 0 {
		// Nothing to send: release at once so the batch is not tried again.
		_ = p.hold.Release(ctx, b)
	}
	return ms
}

// dedupKey names the combination of the route and the values of props in
// ev: a fixed-length hash, usable as a key anywhere.
func dedupKey(route string, props []string, ev *Event) string {
	h := sha256.New()
	h.Write([]byte(route))
	var doc any
	if ev != nil {
		doc = ev.Doc()
	}
	for _, p := range props {
		h.Write([]byte{0})
		v, _ := json.Marshal(lookup(doc, p))
		h.Write(v)
	}
	return hex.EncodeToString(h.Sum(nil)[:20])
}

// lookup follows a dotted path ("Context.hostName") through decoded JSON.
func lookup(doc any, path string) any {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// holdKey names m's batch: messages are held per route AND per source
// (reporting runner, whether it ran its own actions, host), so one
// aggregated message goes to one place.
func holdKey(m Match) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%t\x00%s", m.Route.Name, m.From(), m.FromRan(), strings.ToLower(m.Host())))
	return hex.EncodeToString(h[:16])
}

func heldOf(m Match, now time.Time) Held {
	return Held{Route: m.Route.Name, From: m.From(), FromRan: m.FromRan(), Host: m.Host(), EventID: m.Msg.EventID,
		Title: m.Msg.Title, Body: m.Msg.Body, URL: m.Msg.URL, AggPkg: m.aggPkg, At: now, Event: m.Msg.Event}
}

// Aggregates reports whether the route holds its messages to send them together.
func (r *Route) Aggregates() bool { return r.aggNumber() > 0 || r.aggTimeout() > 0 }

func (r *Route) aggNumber() int {
	return max(r.Plugins.AggregateMessageNumber, r.Plugins.AggregateIssuesNumber)
}

func (r *Route) aggTimeout() time.Duration {
	return max(r.Plugins.AggregateMessageTimeout.D(), r.Plugins.AggregateIssuesTimeout.D())
}

// memDedup is DedupStore in memory, bounded.
type memDedup struct {
	mu   sync.Mutex
	seen map[string]dedupEntry // guarded by mu
	now  func() time.Time
}

type dedupEntry struct {
	exp   time.Time // zero: never
	event string
}

const dedupMax = 100_000

// NewMemDedup is a DedupStore in memory: it holds at most 100,000 keys
// (better a duplicate than unbounded growth).
func NewMemDedup(now func() time.Time) DedupStore {
	if now == nil {
		now = time.Now
	}
	return &memDedup{seen: map[string]dedupEntry{}, now: now}
}

func (d *memDedup) First(_ context.Context, key string, ttl time.Duration, eventID string) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.seen[key]; ok && e.event != eventID && (e.exp.IsZero() || now.Before(e.exp)) {
		return false, nil
	}
	if len(d.seen) >= dedupMax {
		for k, e := range d.seen {
			if !e.exp.IsZero() && !now.Before(e.exp) {
				delete(d.seen, k)
			}
		}
		if len(d.seen) >= dedupMax {
			clear(d.seen)
		}
	}
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	d.seen[key] = dedupEntry{exp: exp, event: eventID}
	return true, nil
}

// memHold is HoldStore in memory.
type memHold struct {
	mu      sync.Mutex
	batches map[string]*memBatch // guarded by mu
	lastGen int64                // guarded by mu
}

type memBatch struct {
	gen    int64
	items  []Held
	sealed bool
	next   []Held
}

// NewMemHold is a HoldStore in memory: held messages are sent when the
// daemon stops, and lost if it crashes.
func NewMemHold() HoldStore { return &memHold{batches: map[string]*memBatch{}} }

var _ HeldCounter = (*memHold)(nil)

func (s *memHold) Durable() bool { return false }

func (s *memHold) Add(_ context.Context, key string, h Held, n int) (*Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches[key]
	if b == nil {
		b = &memBatch{gen: s.newGen()}
		s.batches[key] = b
	}
	if b.sealed {
		b.next = appendHeld(b.next, h)
		return nil, nil
	}
	b.items = appendHeld(b.items, h)
	if n > 0 && len(b.items) >= n {
		b.sealed = true
		return &Batch{Key: key, Gen: b.gen, Items: b.items}, nil
	}
	return nil, nil
}

// HeldByRoute implements HeldCounter.
func (s *memHold) HeldByRoute() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, b := range s.batches {
		n := len(b.next)
		if !b.sealed {
			n += len(b.items)
		}
		if n > 0 {
			out[heldRoute(b)] += n
		}
	}
	return out
}

// heldRoute is the route of b's messages: one batch, one route.
func heldRoute(b *memBatch) string {
	if len(b.items) > 0 {
		return b.items[0].Route
	}
	return b.next[0].Route
}

// appendHeld adds h, keeping the event of the newest message only.
func appendHeld(list []Held, h Held) []Held {
	if len(list) > 0 {
		list[len(list)-1].Event = nil
	}
	return append(list, h)
}

func (s *memHold) Due(_ context.Context, now time.Time, timeout func(string) time.Duration) ([]*Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Batch
	for key, b := range s.batches {
		if b.sealed || len(b.items) == 0 {
			continue
		}
		t := timeout(b.items[0].Route)
		if t < 0 || (t > 0 && now.Sub(b.items[0].At) >= t) {
			b.sealed = true
			out = append(out, &Batch{Key: key, Gen: b.gen, Items: b.items})
		}
	}
	return out, nil
}

func (s *memHold) Release(_ context.Context, done *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches[done.Key]
	if b == nil || b.gen != done.Gen || !b.sealed {
		return nil
	}
	if len(b.next) == 0 {
		delete(s.batches, done.Key)
		return nil
	}
	s.batches[done.Key] = &memBatch{gen: s.newGen(), items: b.next}
	return nil
}

// newGen numbers a batch: a batch's id must never repeat, also after a
// restart, or the idempotency marks of an old batch would skip a new one.
// Caller holds mu.
func (s *memHold) newGen() int64 {
	s.lastGen = max(time.Now().UnixNano(), s.lastGen+1)
	return s.lastGen
}
