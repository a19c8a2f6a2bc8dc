package load

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// pageSize is how many events one page of the tracker holds.
const pageSize = 4096

// slot is what the tracker knows of one event.
type slot struct {
	posted   atomic.Int64 // unix ns the post (or the file write) started
	answered atomic.Int64 // unix ns of the 2xx answer (0 for file lines)
	want     atomic.Int32 // actions expected + 1 (0: not known yet)
	got      atomic.Int32 // actions arrived at the sink
	last     atomic.Int64 // unix ns of the latest arrival
	done     atomic.Bool  // counted as completed
}

// tracker follows every event by sequence number, from its post to its
// actions' arrival at the sink. Pages are added by the producer before it
// posts an event, so the sink only reads pages that exist.
type tracker struct {
	t0        time.Time
	pages     []atomic.Pointer[[pageSize]slot]
	completed atomic.Int64 // events with all their actions arrived
	actions   atomic.Int64 // action requests that named a known event
	unknown   atomic.Int64 // action requests naming no event posted
	extra     atomic.Int64 // arrivals beyond an event's expected count
}

func newTracker(max int) *tracker {
	return &tracker{t0: time.Now(), pages: make([]atomic.Pointer[[pageSize]slot], max/pageSize+1)}
}

// now is the tracker's clock: ns since it started (monotonic).
func (t *tracker) now() int64 { return int64(time.Since(t.t0)) + 1 }

// slot returns seq's slot, creating its page when create is set (the
// producer); nil when seq is outside the tracker or not posted yet.
func (t *tracker) slot(seq int, create bool) *slot {
	p := seq / pageSize
	if seq < 0 || p >= len(t.pages) {
		return nil
	}
	page := t.pages[p].Load()
	if page == nil {
		if !create {
			return nil
		}
		page = new([pageSize]slot)
		if !t.pages[p].CompareAndSwap(nil, page) {
			page = t.pages[p].Load()
		}
	}
	return &page[seq%pageSize]
}

// expect records how many actions seq's event makes; want 0 completes it
// at once (it matched no route: nothing will arrive).
func (t *tracker) expect(seq, want int) {
	s := t.slot(seq, false)
	if s == nil {
		return
	}
	s.want.Store(int32(want) + 1)
	t.check(s)
}

// arrived records an action request for seq.
func (t *tracker) arrived(seq int) {
	s := t.slot(seq, false)
	if s == nil || s.posted.Load() == 0 {
		t.unknown.Add(1)
		return
	}
	at := t.now()
	for {
		old := s.last.Load()
		if old >= at || s.last.CompareAndSwap(old, at) {
			break
		}
	}
	t.actions.Add(1)
	if w := s.want.Load(); w > 0 && s.got.Load() >= w-1 {
		t.extra.Add(1)
	}
	s.got.Add(1)
	t.check(s)
}

// check counts s completed once every expected action arrived; the
// producer and the sink both call it, so the later of the two counts it.
func (t *tracker) check(s *slot) {
	w := s.want.Load()
	if w > 0 && s.got.Load() >= w-1 && s.done.CompareAndSwap(false, true) {
		t.completed.Add(1)
	}
}

// sink is the local HTTP server the actions post to.
type sink struct {
	t   *tracker
	srv *http.Server
	ln  net.Listener
	// untagged counts requests whose body names no event.
	untagged atomic.Int64
	bufs     sync.Pool
}

func startSink(t *tracker) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{t: t, ln: ln}
	s.bufs.New = func() any { b := make([]byte, 0, 8<<10); return &b }
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return s, nil
}

// URL is the sink's base URL.
func (s *sink) URL() string { return "http://" + s.ln.Addr().String() }

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	bp := s.bufs.Get().(*[]byte)
	b, err := readAll(r.Body, (*bp)[:0])
	if err == nil {
		if seq, ok := seqOf(b); ok {
			s.t.arrived(seq)
		} else {
			s.untagged.Add(1)
		}
	}
	*bp = b
	s.bufs.Put(bp)
	w.WriteHeader(http.StatusNoContent)
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (s *sink) close() { _ = s.srv.Close() }
