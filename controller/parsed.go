package controller

import (
	"sync"

	"github.com/postee-fleet/posteed/agent/engine"
)

// parsedEvents keeps the events this controller stored, parsed, until it
// takes them from the stream to handle them (moments later, most times):
// an event is not parsed twice. Bounded: the oldest go first past
// maxParsedBytes, so events another controller handled age out.
type parsedEvents struct {
	mu    sync.Mutex
	byID  map[string]*engine.Event // guarded by mu
	order []string                 // guarded by mu: ids, oldest first
	bytes int                      // guarded by mu
}

const maxParsedBytes = 8 << 20

func (p *parsedEvents) keep(ev *engine.Event) {
	if len(ev.Raw) > maxParsedBytes/4 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID = map[string]*engine.Event{}
	}
	if _, ok := p.byID[ev.ID]; ok {
		return
	}
	p.byID[ev.ID] = ev
	p.order = append(p.order, ev.ID)
	p.bytes += len(ev.Raw)
	for p.bytes > maxParsedBytes && len(p.order) > 0 {
		if old, ok := p.byID[p.order[0]]; ok {
			p.bytes -= len(old.Raw)
			delete(p.byID, p.order[0])
		}
		p.order = p.order[1:]
	}
}

// take returns the event kept under id, and forgets it.
func (p *parsedEvents) take(id string) *engine.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev, ok := p.byID[id]
	if !ok {
		return nil
	}
	delete(p.byID, id)
	p.bytes -= len(ev.Raw)
	// Its id stays in order until it reaches the front: skipped then.
	if len(p.byID) == 0 {
		p.order = p.order[:0]
	}
	return ev
}
