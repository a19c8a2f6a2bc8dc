package awssecurityhub

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// credentialCache keeps a source's credentials until window before they
// expire. One fetch runs at a time, whoever asks meanwhile waits for it;
// a failed fetch is not kept, the next call tries again. Credentials past
// their expiry are never handed out.
type credentialCache struct {
	src    credentialSource
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	cur     credentials   // guarded by mu: the last fetched, if valid
	renew   time.Time     // guarded by mu: when to fetch cur again; zero: never
	pending *pendingFetch // guarded by mu: nil when none runs
	// failing is when fetches began to fail, zero when the last one
	// succeeded: a stale path's failures are not forgotten. Guarded by mu.
	failing time.Time
}

// pendingFetch is the fetch under way; done is closed when it ends.
type pendingFetch struct {
	done    chan struct{}
	waiters int // guarded by the cache's mu: the callers that asked for it
	creds   credentials
	err     error
}

// renewPolicy is a source whose credentials the cache handles its own way
// (the EC2 instance role's, as the SDK does).
type renewPolicy interface {
	// renewAt is when to fetch c again.
	renewAt(c credentials, window time.Duration, now time.Time) time.Time
	// keepStale says until when to use prev after a failed fetch, if at
	// all; never past prev's expiry.
	keepStale(prev credentials, now time.Time) (until time.Time, ok bool)
	// outage is the error once prev has expired and fetches have failed
	// since since, the last with err.
	outage(since time.Time, err error) error
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
	f.waiters++
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
	now := c.now()
	return c.cur.valid() && (c.renew.IsZero() || now.Before(c.renew)) && !expired(c.cur, now)
}

// expired says whether creds may no longer be used: a service refuses
// them, and as a refusal (403), which is not retried.
func expired(creds credentials, now time.Time) bool {
	return !creds.Expires.IsZero() && !now.Before(creds.Expires)
}

func (c *credentialCache) fetch(ctx context.Context, f *pendingFetch) {
	creds, err := c.src.Retrieve(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if err == nil && expired(creds, now) {
		err = &credentialError{err: fmt.Errorf("the credentials fetched expired at %s", creds.Expires.UTC().Format(time.RFC3339)), retry: true}
	}
	if err == nil {
		c.cur, c.renew = creds, c.renewAt(creds, now)
		c.failing = time.Time{}
	} else if policy, ok := c.src.(renewPolicy); ok {
		creds, err = c.failed(policy, err, now)
	}
	f.creds, f.err = creds, err
	c.pending = nil
	close(f.done)
}

// failed is what a source with its own policy gives after a failed fetch:
// the last credentials while they are valid and the policy keeps them;
// once they have expired, the outage as an error that is retried, so that
// the action keeps what it had to send. Called with mu held.
func (c *credentialCache) failed(policy renewPolicy, err error, now time.Time) (credentials, error) {
	if c.failing.IsZero() {
		c.failing = now
	}
	if !c.cur.valid() {
		return credentials{}, err // never had any: not an outage
	}
	if until, ok := policy.keepStale(c.cur, now); ok && !expired(c.cur, now) {
		c.renew = until
		return c.cur, nil
	}
	return credentials{}, policy.outage(c.failing, err)
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
