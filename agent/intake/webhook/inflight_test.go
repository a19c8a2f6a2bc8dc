package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/transport"
)

// gate holds every event in Accept until it is opened, so posts stay in
// flight as long as a test needs.
type gate struct {
	open    chan struct{}
	mu      sync.Mutex
	waiting int // guarded by mu
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Accept(ctx context.Context, raw []byte, _ string) (string, []string, error) {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
	}
	return "id", nil, nil
}

func (g *gate) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// countingBody counts what the server made the client send.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

// post sends an event of n bytes (chunked when chunked is set) with
// Expect: 100-continue, so the body travels only if the handler reads it.
// It may run in any goroutine: a failed request is a status of 0.
func post(url string, n int, chunked bool) (*http.Response, *countingBody) {
	body := &countingBody{r: strings.NewReader(`{"x":"` + strings.Repeat("a", n-8) + `"}`)}
	req, _ := http.NewRequest("POST", url+"/", body)
	req.ContentLength = int64(n)
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Expect", "100-continue")
	// The timeout only turns a regression (a post held instead of refused)
	// into a failure rather than a hang.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	resp, err := c.Do(req)
	if err != nil {
		return &http.Response{Body: io.NopCloser(strings.NewReader(err.Error()))}, body
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, body
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBytesInFlightAreBounded does what the 60 concurrent large
// posts did, in small: posts past max-inflight-bytes are answered 503 with
// Retry-After before their body is read, chunked posts count as the body
// limit, and everything is taken again once the posts in flight are done.
func TestBytesInFlightAreBounded(t *testing.T) {
	g := newGate()
	var reasons []string
	var mu sync.Mutex
	srv := httptest.NewServer(NewMux(Options{Sink: g, BodyLimit: 1000, MaxInflight: 2000,
		BadInput: func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() }}))
	defer srv.Close()

	type result struct {
		resp *http.Response
		body *countingBody
	}
	held := make(chan result, 3)
	hold := func(n int) { r, b := post(srv.URL, n, false); held <- result{r, b} }
	go hold(900)
	go hold(900) // 1,800 bytes in flight: both fit under 2,000
	eventually(t, "two posts held in Accept", func() bool { return g.held() == 2 })

	for _, tc := range []struct {
		name    string
		n       int
		chunked bool
	}{
		{"a small post past the bound", 300, false},
		{"a chunked post, counted as the body limit", 100, true},
	} {
		resp, body := post(srv.URL, tc.n, tc.chunked)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != RetryAfter ||
			!strings.Contains(string(b), "max-inflight-bytes") {
			t.Errorf("%s: %d Retry-After=%q %s, want 503 with Retry-After", tc.name, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		if n := body.read.Load(); n != 0 {
			t.Errorf("%s: the client sent %d bytes of a refused body; it should not have been asked for any", tc.name, n)
		}
	}
	go hold(150) // still fits: 1,950 bytes
	eventually(t, "a post that still fits held in Accept", func() bool { return g.held() == 3 })

	close(g.open)
	sent := int64(0)
	for range 3 {
		r := <-held
		if r.resp.StatusCode != http.StatusOK {
			t.Errorf("held post: %d", r.resp.StatusCode)
		}
		sent += r.body.read.Load()
	}
	if sent != 1950 {
		t.Errorf("the posts let in sent %d bytes, want 1950", sent)
	}
	for _, chunked := range []bool{false, true} {
		if resp, _ := post(srv.URL, 900, chunked); resp.StatusCode != http.StatusOK {
			t.Errorf("after the posts in flight were done, chunked=%v: %d", chunked, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(reasons, ",") != "busy,busy" {
		t.Errorf("refusals counted %v, want busy twice", reasons)
	}
}

// TestOneEventAlwaysFits: a bound below the body limit still lets one
// event at the body limit in when nothing else is in flight.
func TestOneEventAlwaysFits(t *testing.T) {
	srv := httptest.NewServer(NewMux(Options{Sink: &sink{}, BodyLimit: 4000, MaxInflight: 1000}))
	defer srv.Close()
	for _, chunked := range []bool{false, true} {
		if resp, _ := post(srv.URL, 3000, chunked); resp.StatusCode != http.StatusOK {
			t.Errorf("chunked=%v: %d", chunked, resp.StatusCode)
		}
	}
}

// TestDeclaredOversizeRefusedUnread: a Content-Length past the body limit
// is answered 413 without taking a byte of the body.
func TestDeclaredOversizeRefusedUnread(t *testing.T) {
	srv := httptest.NewServer(NewMux(Options{Sink: &sink{}, BodyLimit: 1000}))
	defer srv.Close()
	resp, body := post(srv.URL, 5000, false)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "limit of 1000 bytes") || body.read.Load() != 0 {
		t.Fatalf("%d %s after %d bytes sent", resp.StatusCode, b, body.read.Load())
	}
	if resp, _ := post(srv.URL, 5000, true); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked past the limit: %d", resp.StatusCode)
	}
}

// undeliverable refuses every event as too large for the runner channel,
// as the daemons' sinks do when its encoding is past the server's payload.
type undeliverable struct{}

func (undeliverable) Accept(context.Context, []byte, string) (string, []string, error) {
	tooLarge := fmt.Errorf("%w: 40000000 bytes encoded", transport.ErrTooLarge)
	return "ev-1", []string{"r"}, fmt.Errorf("runner work not queued, send the event again: %w",
		errors.Join(nil, fmt.Errorf("runner r: %w", tooLarge)))
}

// TestUndeliverableEventIs413: an event that can never reach its runner is
// answered 413, not 200 (it would be dropped) nor 503 (sending it again
// cannot help).
func TestUndeliverableEventIs413(t *testing.T) {
	var got []string
	srv := httptest.NewServer(NewMux(Options{Sink: undeliverable{}, BadInput: func(r string) { got = append(got, r) }}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge ||
		!strings.Contains(string(b), `"event can never be delivered: too large for the controller-runner channel: 40000000 bytes encoded"`) ||
		!strings.Contains(string(b), `"event_id":"ev-1"`) || strings.Join(got, ",") != "too_large" {
		t.Fatalf("%d %s, counted %v", resp.StatusCode, b, got)
	}
}
