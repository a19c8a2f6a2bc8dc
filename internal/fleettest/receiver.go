package fleettest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Receiver is a local HTTP peer, the destination of actions under test; it
// records each request body and its arrival by path.
type Receiver struct {
	*httptest.Server

	mu     sync.Mutex
	bodies map[string][]string    // guarded by mu
	times  map[string][]time.Time // guarded by mu; arrival of each body
}

// NewReceiver starts a receiver, closed with the test.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{bodies: map[string][]string{}, times: map[string][]time.Time{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		now := time.Now()
		r.mu.Lock()
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], string(b))
		r.times[req.URL.Path] = append(r.times[req.URL.Path], now)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

// Got is the bodies posted to path so far, in order of arrival.
func (r *Receiver) Got(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies[path]...)
}

// Arrivals is when each of Got(path) arrived.
func (r *Receiver) Arrivals(path string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times[path]...)
}
