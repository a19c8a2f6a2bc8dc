package engine

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// dedup implements Postee's unique-message-props: a route sends a message
// for a given combination of event properties once per
// unique-message-timeout (forever when no timeout is set).
type dedup struct {
	mu   sync.Mutex
	seen map[string]time.Time // key → expiry (zero: never); guarded by mu
	now  func() time.Time
}

const dedupMax = 100_000

func newDedup() *dedup { return &dedup{seen: map[string]time.Time{}, now: time.Now} }

// first reports whether ev is the first of its kind for r, and records it.
func (d *dedup) first(r *Route, ev *Event) bool {
	props := r.Plugins.UniqueMessageProps
	if len(props) == 0 {
		return true
	}
	var b strings.Builder
	b.WriteString(r.Name)
	for _, p := range props {
		b.WriteByte(0)
		v, _ := json.Marshal(lookup(ev.Doc(), p))
		b.Write(v)
	}
	key := b.String()
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if exp, ok := d.seen[key]; ok && (exp.IsZero() || now.Before(exp)) {
		return false
	}
	if len(d.seen) >= dedupMax {
		d.prune(now)
	}
	var exp time.Time
	if t := r.Plugins.UniqueMessageTimeout.D(); t > 0 {
		exp = now.Add(t)
	}
	d.seen[key] = exp
	return true
}

// prune drops expired keys, and if still full, everything: better to send a
// duplicate than to grow without bound.
func (d *dedup) prune(now time.Time) {
	for k, exp := range d.seen {
		if !exp.IsZero() && !now.Before(exp) {
			delete(d.seen, k)
		}
	}
	if len(d.seen) >= dedupMax {
		clear(d.seen)
	}
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

// KeepStateFrom carries old's unique-message-props memory over to e, so a
// reload (every save of cfg.yaml) does not let duplicates through.
func (e *Engine) KeepStateFrom(old *Engine) {
	if old != nil && old != e {
		e.dedup = old.dedup
	}
}
