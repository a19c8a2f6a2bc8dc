package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// postStats is what one batch of posts (or appended lines) came to.
type postStats struct {
	sent       int   // events sent (or lines appended)
	failed     int   // events not taken in
	retried    int64 // 503 answers retried
	lastAnswer int64 // tracker time of the last answer (or write)
	routes     []int // routes each event matched, by its index in the batch
}

// poster sends events to r.intake from keep-alive clients.
type poster struct {
	r       *run
	clients int
	client  *http.Client
}

func newPoster(r *run, clients int) *poster {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &poster{r: r, clients: clients, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// answer is the intake's JSON answer.
type answer struct {
	EventID string   `json:"event_id"`
	Routes  []string `json:"routes"`
	Error   string   `json:"error"`
}

// post sends up to n events, the samples in turn, from p.clients clients;
// rate > 0 paces them, d > 0 stops sending after d.
func (p *poster) post(ctx context.Context, n int, rate float64, d time.Duration) (postStats, error) {
	r := p.r
	base := r.seq
	st := postStats{routes: make([]int, n)}
	var next atomic.Int64
	var failed, sent atomic.Int64
	var lastAnswer atomic.Int64
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	var wg sync.WaitGroup
	for range p.clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n || (d > 0 && time.Since(t0) >= d) {
					return
				}
				if rate > 0 {
					if wait := time.Until(t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))); wait > 0 {
						time.Sleep(wait)
					}
				}
				seq := base + i
				sent.Add(1)
				routes, retried, err := p.one(ctx, seq, r.samples[seq%len(r.samples)])
				mu.Lock()
				st.retried += retried
				if err != nil {
					failed.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				} else {
					st.routes[i] = routes
				}
				mu.Unlock()
				for at := r.tr.now(); ; {
					old := lastAnswer.Load()
					if old >= at || lastAnswer.CompareAndSwap(old, at) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	// A client may take a number and then find the time up: a number
	// taken is not always one sent.
	st.sent = int(sent.Load())
	st.failed = int(failed.Load())
	st.lastAnswer = lastAnswer.Load()
	r.seq = base + min(int(next.Load()), n)
	if st.failed > 0 {
		r.logf("%d of %d posts failed; the first: %v", st.failed, st.sent, firstErr)
	}
	return st, ctx.Err()
}

// one posts event seq until it is taken in (503 is retried after its
// Retry-After, up to a minute), and records its expected actions.
func (p *poster) one(ctx context.Context, seq int, s sample) (routes int, retried int64, err error) {
	tr := p.r.tr
	slot := tr.slot(seq, true)
	body := s.tagged(seq)
	slot.posted.Store(tr.now())
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.r.intake, bytes.NewReader(body))
		if err != nil {
			return 0, retried, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := p.client.Do(req)
		if err != nil {
			if ctx.Err() != nil || time.Now().After(deadline) {
				return 0, retried, err
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			retried++
			wait := 100 * time.Millisecond
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			time.Sleep(wait)
			continue
		}
		if resp.StatusCode/100 != 2 {
			return 0, retried, fmt.Errorf("event %d: %s: %s", seq, resp.Status, bytes.TrimSpace(b))
		}
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			return 0, retried, fmt.Errorf("event %d: answer %q: %w", seq, b, err)
		}
		slot.answered.Store(tr.now())
		tr.expect(seq, len(a.Routes))
		return len(a.Routes), retried, nil
	}
}

// maxChunk is the most Tracee lines appended in one write.
const maxChunk = 64

// appendLines appends up to n Tracee lines to the followed file, the
// samples in turn, keeping at most Window lines whose actions have not
// all arrived; rate > 0 paces them, d > 0 stops after d.
func (r *run) appendLines(ctx context.Context, n int, rate float64, d time.Duration) (postStats, error) {
	f, err := os.OpenFile(r.tracee, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return postStats{}, err
	}
	defer f.Close()
	base := r.seq
	st := postStats{}
	t0 := time.Now()
	doneBefore := r.tr.completed.Load()
	var buf []byte
	i := 0
	for i < n && ctx.Err() == nil && (d <= 0 || time.Since(t0) < d) {
		inflight := i - int(r.tr.completed.Load()-doneBefore)
		room := min(r.o.Window-inflight, maxChunk, n-i)
		if rate > 0 {
			due := int(time.Since(t0).Seconds()*rate) + 1
			room = min(room, due-i)
		}
		if room <= 0 {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		buf = buf[:0]
		now := r.tr.now()
		for k := range room {
			seq := base + i + k
			smp := seq % len(r.samples)
			slot := r.tr.slot(seq, true)
			slot.posted.Store(now)
			r.tr.expect(seq, r.traceeWant[smp])
			buf = append(append(buf, r.samples[smp].tagged(seq)...), '\n')
		}
		if _, err := f.Write(buf); err != nil {
			return st, err
		}
		i += room
		st.lastAnswer = r.tr.now()
	}
	st.sent = i
	r.seq = base + i
	return st, ctx.Err()
}
