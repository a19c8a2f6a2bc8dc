package webhook

import "sync"

// budget counts the bytes of events in flight against a bound. A post that
// does not fit is refused at once rather than queued: a queue would hold
// the connection, and its request, in memory all the same.
type budget struct {
	max  int64
	mu   sync.Mutex
	used int64 // guarded by mu
}

// take reserves n bytes (at most max, so that one post always fits when
// nothing else is in flight); false when they do not fit.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}
