package engine

import (
	"sync"
	"time"
)

// Retirer closes engines replaced by a reload once the work in flight on
// them had time to finish, or all of them at once when the daemon stops:
// closing sends what they hold for aggregation, so a stop right after a
// reload loses nothing.
type Retirer struct {
	mu      sync.Mutex
	engines map[*Engine]struct{} // guarded by mu: replaced, not yet closed
}

// Retire schedules e's Close after grace.
func (r *Retirer) Retire(e *Engine, grace time.Duration) {
	if e == nil {
		return
	}
	r.mu.Lock()
	if r.engines == nil {
		r.engines = map[*Engine]struct{}{}
	}
	r.engines[e] = struct{}{}
	r.mu.Unlock()
	time.AfterFunc(grace, func() { r.close(e) })
}

func (r *Retirer) close(e *Engine) {
	e.Close()
	r.mu.Lock()
	delete(r.engines, e)
	r.mu.Unlock()
}

// Live lists the replaced engines not closed yet.
func (r *Retirer) Live() []*Engine {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Engine, 0, len(r.engines))
	for e := range r.engines {
		out = append(out, e)
	}
	return out
}

// CloseAll closes every replaced engine now.
func (r *Retirer) CloseAll() {
	for _, e := range r.Live() {
		r.close(e)
	}
}
