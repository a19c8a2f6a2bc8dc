package awssecurityhub

import (
	"context"
	"sync"
	"time"
)

// credentialCache keeps a source's credentials until window before they
// expire. One fetch runs at a time, whoever asks meanwhile waits for it;
// a failed fetch is not kept, the next call tries again.
type credentialCache struct {
	src    credentialSource
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	cur     credentials   // guarded by mu: the last fetched, if valid
	renew   time.Time     // guarded by mu: when to fetch cur again; zero: never
	pending *pendingFetch // guarded by mu: nil when none runs
}

// pendingFetch is the fetch under way; done is closed when it ends.
type pendingFetch struct {
	done  chan struct{}
	creds credentials
	err   error
}

// renewPolicy is a source whose credentials the cache handles its own way
// (the EC2 instance role's, as the SDK does).
type renewPolicy interface {
	// renewAt is when to fetch c again.
	renewAt(c credentials, window time.Duration, now time.Time) time.Time
	// keepStale says until when to use prev after a failed fetch, if at all.
	keepStale(prev credentials, now time.Time) (until time.Time, ok bool)
}

func newCredentialCache(src credentialSource, window time.Duration) *credentialCache {
	return &credentialCache{src: src, window: window, now: time.Now}
}

// Retrieve returns the cached credentials, or waits for a fetch. The fetch
// runs apart from ctx, so that a caller giving up does not fail the others
// waiting for it; the sources' own timeouts bound it.
func (c *credentialCache) Retrieve(ctx context.Context) (credentials, error) {
	c.mu.Lock()
	if c.fresh() {
		cur := c.cur
		c.mu.Unlock()
		return cur, nil
	}
	f := c.pending
	if f == nil {
		f = &pendingFetch{done: make(chan struct{})}
		c.pending = f
		go c.fetch(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return credentials{}, ctx.Err()
	}
}

// fresh says whether cur may be used now. Called with mu held.
func (c *credentialCache) fresh() bool {
	return c.cur.valid() && (c.renew.IsZero() || c.now().Before(c.renew))
}

func (c *credentialCache) fetch(ctx context.Context, f *pendingFetch) {
	creds, err := c.src.Retrieve(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	policy, custom := c.src.(renewPolicy)
	switch {
	case err == nil:
		c.cur, c.renew = creds, c.renewAt(creds, now)
	case custom:
		if until, ok := policy.keepStale(c.cur, now); ok {
			creds, err, c.renew = c.cur, nil, until
		}
	}
	f.creds, f.err = creds, err
	c.pending = nil
	close(f.done)
}

// renewAt is when to fetch creds again: window before they expire, never
// for keys that do not.
func (c *credentialCache) renewAt(creds credentials, now time.Time) time.Time {
	if creds.Expires.IsZero() {
		return time.Time{}
	}
	if p, ok := c.src.(renewPolicy); ok {
		return p.renewAt(creds, c.window, now)
	}
	return creds.Expires.Add(-c.window)
}
