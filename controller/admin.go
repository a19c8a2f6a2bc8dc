package controller

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/admin"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/metrics/prom"
)

// maxFailures is how many action failures the status page keeps.
const maxFailures = 20

// stats counts what the status page shows and feeds the metrics; it is
// the engines' Observer.
type stats struct {
	m *prom.Controller

	mu       sync.Mutex
	matches  map[string]int64            // by route; guarded by mu
	outcomes map[string]map[string]int64 // by route, then outcome; guarded by mu
	failures []failure                   // newest last; guarded by mu
	reload   reloadState                 // guarded by mu
}

type failure struct {
	Time                 time.Time
	Route, Action, Error string
}

type reloadState struct {
	OK    bool
	Time  time.Time
	Error string
}

func newStats(m *prom.Controller) *stats {
	return &stats{m: m, matches: map[string]int64{}, outcomes: map[string]map[string]int64{}, reload: reloadState{OK: true, Time: time.Now()}}
}

// ActionDone implements engine.Observer.
func (s *stats) ActionDone(r engine.ActionResult) {
	s.m.ActionDone(r.Action, r.Type, r.Outcome, r.Duration)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outcomes[r.Route] == nil {
		s.outcomes[r.Route] = map[string]int64{}
	}
	s.outcomes[r.Route][r.Outcome]++
	if r.Outcome == metrics.OutcomeFailed && r.Err != nil {
		s.failures = append(s.failures, failure{Time: time.Now(), Route: r.Route, Action: r.Action, Error: r.Err.Error()})
		if len(s.failures) > maxFailures {
			s.failures = s.failures[len(s.failures)-maxFailures:]
		}
	}
}

// matched counts the routes an event matched.
func (s *stats) matched(ms []engine.Match) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		s.m.RouteMatches.WithLabelValues(m.Route.Name).Inc()
		s.matches[m.Route.Name]++
	}
}

// dispatched counts a job queued for runner.
func (s *stats) dispatched(runner string) { s.m.WorkDispatched.WithLabelValues(runner).Inc() }

func (s *stats) reloaded(rev int64, err error) {
	now := time.Now()
	s.m.Reloaded(err == nil, rev, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.reload = reloadState{OK: false, Time: now, Error: firstLine(err)}
		return
	}
	s.reload = reloadState{OK: true, Time: now}
}

// lastReload is the outcome of the last reload (OK before any).
func (s *stats) lastReload() reloadState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reload
}

var errNotReady = errors.New("not listening yet")

// startAdmin binds the admin listener ("" in the settings: none).
func (c *Controller) startAdmin() (*admin.Server, error) {
	return admin.Listen(c.opts.Settings.Admin, admin.Options{
		Metrics:  c.metrics.Handler(),
		Healthy:  c.health,
		Ready:    c.readiness,
		Handlers: c.adminHandlers(),
	})
}

// adminHandlers are the admin listener's views, with Go's profiles under
// /debug/pprof/ when the pprof setting is on.
func (c *Controller) adminHandlers() map[string]http.Handler {
	h := map[string]http.Handler{
		"GET /runners": http.HandlerFunc(c.serveRunners),
		"GET /{$}":     http.HandlerFunc(c.serveStatus),
	}
	if c.opts.Settings.Pprof {
		h["/debug/pprof/"] = http.HandlerFunc(pprof.Index) // also heap, goroutine, allocs, ...
		h["/debug/pprof/cmdline"] = http.HandlerFunc(pprof.Cmdline)
		h["/debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
		h["/debug/pprof/symbol"] = http.HandlerFunc(pprof.Symbol)
		h["/debug/pprof/trace"] = http.HandlerFunc(pprof.Trace)
	}
	return h
}

func (c *Controller) readiness() error {
	select {
	case <-c.ready:
		return c.health()
	default:
		return errNotReady
	}
}

// AdminAddr is the bound admin address ("" when off or before Ready).
func (c *Controller) AdminAddr() string {
	select {
	case <-c.ready:
		return c.adminAddr
	default:
		return ""
	}
}

// serveMoved answers the intake's old /runners: the fleet view is on the
// admin listener now (kept for one release).
func (c *Controller) serveMoved(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusGone)
	where := "the admin listener (admin in controller.toml)"
	if a := c.AdminAddr(); a != "" {
		where = "http://" + a + "/runners"
	}
	writeJSON(w, map[string]string{"error": "GET /runners moved to " + where})
}

//go:embed status.html
var statusFS embed.FS

var statusPage = template.Must(template.ParseFS(statusFS, "status.html"))

type routeRow struct {
	Name                string
	Matches             int64
	OK, Failed, Retried int64
}

type statusData struct {
	Now            time.Time
	Version        string
	ConfigRevision int64
	Reload         reloadState
	Mode           string
	Runners        []RunnerInfo
	Routes         []routeRow
	Failures       []failure // newest first
}

func (c *Controller) serveStatus(w http.ResponseWriter, _ *http.Request) {
	d := statusData{Now: time.Now(), Version: c.opts.Version, ConfigRevision: c.cfg.revision(), Mode: "standalone"}
	if c.fleet != nil {
		d.Mode = "controller mode"
		d.Runners = c.fleet.list(context.Background())
	}
	s := c.stats
	s.mu.Lock()
	d.Reload = s.reload
	for _, r := range c.Engine().Routes() {
		o := s.outcomes[r.Name]
		d.Routes = append(d.Routes, routeRow{Name: r.Name, Matches: s.matches[r.Name], OK: o[metrics.OutcomeOK], Failed: o[metrics.OutcomeFailed], Retried: o[metrics.OutcomeRetried]})
	}
	for i := len(s.failures) - 1; i >= 0; i-- {
		d.Failures = append(d.Failures, s.failures[i])
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, d); err != nil {
		c.log.Warn("status page not written", logx.Err(err))
	}
}
