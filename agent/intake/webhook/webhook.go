// Package webhook is the HTTP intake both daemons share: Postee's endpoints
// (POST / and /scan for every route, POST /tenant/{route} for one route,
// GET /ping) plus GET /healthz.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/postee-fleet/posteed/agent/logx"
	"io"
	"log/slog"
	"net/http"

	"github.com/postee-fleet/posteed/agent/engine"
)

// DefaultBodyLimit bounds an event's size unless configured otherwise.
const DefaultBodyLimit = 10 << 20

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
	Health    Health
	Logger    *slog.Logger
	// BadInput hears each refused event's reason (too_large, unreadable,
	// not_json, unknown_route), for metrics; optional.
	BadInput func(reason string)
}

// NewMux returns the intake endpoints on a new mux; a daemon may add its own.
func NewMux(o Options) *http.ServeMux {
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", h.event)
	mux.HandleFunc("POST /scan", h.event)
	mux.HandleFunc("POST /tenant/{route}", h.event)
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong\n") })
	mux.HandleFunc("GET /healthz", h.healthz)
	return mux
}

type handler struct{ o Options }

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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.BodyLimit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.bad("too_large")
			reply(w, http.StatusRequestEntityTooLarge, answer{Error: "event larger than the limit of " + humanBytes(tooBig.Limit)})
			return
		}
		h.bad("unreadable")
		reply(w, http.StatusBadRequest, answer{Error: "cannot read body: " + err.Error()})
		return
	}
	route := r.PathValue("route")
	id, routes, err := h.o.Sink.Accept(r.Context(), body, route)
	switch {
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
