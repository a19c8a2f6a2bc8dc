package daemon

import (
	"errors"
	"sync"
)

// Gate lets work in until the daemon stops, and lets the stop wait for the
// work already in: Enter before taking an event, Leave when it is handled,
// Close at the stop, then Wait.
type Gate struct {
	mu     sync.Mutex
	closed bool // guarded by mu
	wg     sync.WaitGroup
}

// ErrStopping is what Enter returns once the gate is closed.
var ErrStopping = errors.New("stopping: not taking events")

// Enter admits one piece of work, or refuses it once the gate is closed.
func (g *Gate) Enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrStopping
	}
	g.wg.Add(1)
	return nil
}

// Leave ends work admitted by Enter.
func (g *Gate) Leave() { g.wg.Done() }

// Close refuses work from now on.
func (g *Gate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Wait waits for the work admitted before Close.
func (g *Gate) Wait() { g.wg.Wait() }
