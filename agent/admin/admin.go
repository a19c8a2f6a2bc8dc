// Package admin is the daemons' admin listener: /metrics, /healthz,
// /readyz and whatever views the daemon adds (the fleet view, the status
// page). It is meant for loopback or an operator network, apart from the
// event intake.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Options are the admin server's parts.
type Options struct {
	Metrics http.Handler // serves /metrics; nil: 404
	Healthy func() error // /healthz: 503 with the error when non-nil
	Ready   func() error // /readyz: 503 with the error when non-nil
	// Handlers are extra routes, by net/http pattern ("GET /runners").
	Handlers map[string]http.Handler
}

// Server is a bound admin listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr ("" turns the listener off: nil, nil).
func Listen(addr string, o Options) (*Server, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return &Server{ln: ln, srv: &http.Server{Handler: Mux(o), ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Mux is the admin routes.
func Mux(o Options) *http.ServeMux {
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /healthz", probe(o.Healthy))
	mux.HandleFunc("GET /readyz", probe(o.Ready))
	for pattern, h := range o.Handlers {
		mux.Handle(pattern, h)
	}
	return mux
}

func probe(check func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if check != nil {
			if err := check(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// Shutdown stops the server, letting requests in flight finish until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
