package runner

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/logx"
)

// part is a component of the runner: it works until ctx is done and
// returns once it has finished what it does at a stop.
type part interface{ Run(ctx context.Context) }

// partFunc makes a function a part.
type partFunc func(context.Context)

func (f partFunc) Run(ctx context.Context) { f(ctx) }

// group runs parts until stop: the runner stops its groups one after
// another, in the order a stop needs.
type group struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startGroup runs each part in its own goroutine. The end of ctx does not
// reach them (its values do): only stop ends them.
func startGroup(ctx context.Context, parts ...part) *group {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &group{cancel: cancel}
	for _, p := range parts {
		g.wg.Go(func() { p.Run(ctx) })
	}
	return g
}

// stop ends the parts and waits until each has returned.
func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}

// diskSync makes the idempotency log durable every interval: its lines
// are written at once (a process crash keeps them), fsynced here (a host
// crash loses the last interval).
type diskSync struct {
	marks *fileMarks
	every time.Duration
	log   *slog.Logger
}

func (d diskSync) Run(ctx context.Context) {
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.marks.Sync(); err != nil {
				d.log.Warn("idempotency log not synced", logx.Err(err))
			}
		}
	}
}

// deadline is when a clean stop must be done: zero until a stop begins.
type deadline struct {
	mu sync.Mutex
	at time.Time // guarded by mu
}

// start begins the stop: it must be done within budget.
func (d *deadline) start(budget time.Duration) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = time.Now().Add(budget)
	return d.at
}

// get is the stop's deadline; zero when no stop is under way.
func (d *deadline) get() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at
}
