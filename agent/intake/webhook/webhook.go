// Package webhook is the HTTP intake both daemons share: Postee's endpoints
// (POST / and /scan for every route, POST /tenant/{route} for one route,
// GET /ping) plus GET /healthz.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
)

// DefaultBodyLimit bounds an event's size unless configured otherwise.
const DefaultBodyLimit = 10 << 20

// DefaultMaxInflight bounds the bytes of events in flight unless configured
// otherwise: three events at the default body limit. An event holds many
// times its size in memory while it is parsed, evaluated and rendered; with
// twice this bound the controller's heap stayed at its soft limit and 60
// concurrent 9 MiB posts took 540 s instead of 39 s (scripts/bench hostile).
const DefaultMaxInflight = 32 << 20

// RetryAfter is what a post refused for the in-flight bound is told to
// wait, in seconds: about how long a large event takes to go through.
const RetryAfter = "2"

// Sink takes an event in. route is "" for every route. It returns the event
// id and the names of the routes that matched.
type Sink interface {
	Accept(ctx context.Context, raw []byte, route string) (id string, routes []string, err error)
}

// Health reports whether the daemon can take events; nil is healthy.
type Health func() error

// Options configure the handler.
type Options struct {
	Sink      Sink
	BodyLimit int64 // DefaultBodyLimit when 0
	// MaxInflight bounds the bytes of the events being read and taken in
	// at once (DefaultMaxInflight when 0): a post that would go past it is
	// answered 503 with Retry-After before its body is read. A post counts
	// its Content-Length, or BodyLimit when it sends none (chunked); one
	// event is always let in when nothing else is in flight.
	MaxInflight int64
	// Token, when set, is the bearer token every event must carry
	// (Authorization: Bearer TOKEN); others are answered 401.
	Token  string
	Health Health
	Logger *slog.Logger
	// BadInput hears each refused event's reason (too_large, unreadable,
	// not_json, unknown_route, busy, unauthorized), for metrics; optional.
	BadInput func(reason string)
}

// NewMux returns the intake endpoints on a new mux; a daemon may add its own.
func NewMux(o Options) *http.ServeMux {
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{o: o, inflight: &budget{max: o.MaxInflight}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", h.event)
	mux.HandleFunc("POST /scan", h.event)
	mux.HandleFunc("POST /tenant/{route}", h.event)
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong\n") })
	mux.HandleFunc("GET /healthz", h.healthz)
	return mux
}

type handler struct {
	o        Options
	inflight *budget
}

type answer struct {
	EventID string   `json:"event_id,omitempty"`
	Routes  []string `json:"routes"`
	Error   string   `json:"error,omitempty"`
}

func (h *handler) bad(reason string) {
	if h.o.BadInput != nil {
		h.o.BadInput(reason)
	}
}

func (h *handler) event(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.bad("unauthorized")
		w.Header().Set("WWW-Authenticate", `Bearer realm="postee intake"`)
		reply(w, http.StatusUnauthorized, answer{Error: "a bearer token is required (Authorization: Bearer TOKEN)"})
		return
	}
	if r.ContentLength > h.o.BodyLimit {
		h.tooLarge(w)
		return
	}
	n := h.reservation(r)
	if !h.inflight.take(n) {
		h.bad("busy")
		w.Header().Set("Retry-After", RetryAfter)
		reply(w, http.StatusServiceUnavailable, answer{Error: "too many bytes of events in flight (max-inflight-bytes " +
			humanBytes(h.o.MaxInflight) + "): send it again after " + RetryAfter + " s"})
		return
	}
	defer h.inflight.give(n)
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.o.BodyLimit), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.tooLarge(w)
			return
		}
		h.bad("unreadable")
		reply(w, http.StatusBadRequest, answer{Error: "cannot read body: " + err.Error()})
		return
	}
	route := r.PathValue("route")
	id, routes, err := h.o.Sink.Accept(r.Context(), body, route)
	switch {
	case errors.Is(err, transport.ErrTooLarge):
		h.bad("too_large")
		reply(w, http.StatusRequestEntityTooLarge, answer{EventID: id, Error: "event can never be delivered: " + tooLargeCause(err).Error()})
	case errors.Is(err, engine.ErrNotJSON):
		h.bad("not_json")
		reply(w, http.StatusBadRequest, answer{Error: err.Error()})
	case errors.Is(err, engine.ErrNoRoute):
		h.bad("unknown_route")
		reply(w, http.StatusNotFound, answer{Error: err.Error()})
	case err != nil:
		h.o.Logger.Error("event not accepted", logx.Err(err), "remote", r.RemoteAddr)
		reply(w, http.StatusServiceUnavailable, answer{EventID: id, Error: err.Error()})
	default:
		if routes == nil {
			routes = []string{}
		}
		reply(w, http.StatusOK, answer{EventID: id, Routes: routes})
	}
}

// tooLargeCause is the error in err's tree that wraps transport.ErrTooLarge
// itself: it says by how much, without what callers added on the way up
// (the controller's "send the event again", which a 413 contradicts).
func tooLargeCause(err error) error {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if errors.Is(e, transport.ErrTooLarge) {
					next = e
					break
				}
			}
		}
		if next == nil || next == transport.ErrTooLarge {
			return err
		}
		err = next
	}
}

func (h *handler) tooLarge(w http.ResponseWriter) {
	h.bad("too_large")
	reply(w, http.StatusRequestEntityTooLarge, answer{Error: "event larger than the limit of " + humanBytes(h.o.BodyLimit)})
}

// reservation is what a post counts against MaxInflight: its declared
// length, or the most it may send, but never more than the whole bound.
func (h *handler) reservation(r *http.Request) int64 {
	n := r.ContentLength
	if n < 0 {
		n = h.o.BodyLimit
	}
	return min(n, h.o.MaxInflight)
}

func (h *handler) authorized(r *http.Request) bool {
	if h.o.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	// Compared as hashes: equal lengths, so the time taken says nothing
	// about the token's length either.
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(h.o.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// readBody reads a body of declared length n (-1: unknown) into a buffer of
// that size, rather than the doubling one of io.ReadAll, which for a 9 MiB
// event allocated 16 MiB and left 15 MiB of garbage.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n < 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("body shorter than its Content-Length: %w", err)
		}
		return nil, err
	}
	return b, nil
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	if h.o.Health != nil {
		if err := h.o.Health(); err != nil {
			reply(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
			return
		}
	}
	reply(w, http.StatusOK, map[string]string{"status": "ok"})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
