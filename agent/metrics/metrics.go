// Package metrics holds the controller's Prometheus metrics in an explicit
// registry (never the client library's global one): each daemon builds its
// own Controller and hands it to the parts that count.
//
// Label values are bounded: sources, reasons and outcomes are fixed words,
// routes and actions come from cfg.yaml, runner names from the fleet; no
// event ids or host names.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postee-fleet/posteed/agent/buildinfo"
)

// Event sources (the source label of posteed_events_received_total).
const (
	SourceWebhook   = "webhook"
	SourceTracefile = "tracefile"
	SourceUpstream  = "runner_upstream"
)

// Action outcomes (the outcome label of posteed_action_runs_total): a
// retried attempt counts once as retried, the final attempt as ok or failed.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeRetried = "retried"
)

// FleetRunner is one runner as the controller's fleet view knows it.
type FleetRunner struct {
	Name           string
	Connected      bool
	ConfigRevision int64
	PendingWork    uint64
}

// Controller is the controller's metrics.
type Controller struct {
	Registry *prometheus.Registry

	EventsReceived   *prometheus.CounterVec   // source
	BadInput         *prometheus.CounterVec   // reason
	RouteMatches     *prometheus.CounterVec   // route
	ActionRuns       *prometheus.CounterVec   // action, type, outcome
	ActionDuration   *prometheus.HistogramVec // action, type
	ConfigRevision   prometheus.Gauge
	ReloadSuccess    prometheus.Gauge
	ReloadTimestamp  prometheus.Gauge
	RunnersConnected prometheus.Gauge
}

// NewController registers the controller's metrics; fleet (nil outside
// controller mode) is read at each scrape for the per-runner series.
func NewController(version string, fleet func() []FleetRunner) *Controller {
	m := &Controller{
		Registry: prometheus.NewRegistry(),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_events_received_total", Help: "Events received, by source (webhook, tracefile, runner_upstream).",
		}, []string{"source"}),
		BadInput: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_bad_input_total", Help: "Input refused, by reason (too_large, unreadable, not_json, unknown_route).",
		}, []string{"reason"}),
		RouteMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_route_matches_total", Help: "Events a route matched.",
		}, []string{"route"}),
		ActionRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_action_runs_total", Help: "Action attempts by outcome: ok, failed (final), retried.",
		}, []string{"action", "type", "outcome"}),
		ActionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "posteed_action_duration_seconds", Help: "Time an action took, retries included.",
			Buckets: []float64{.005, .025, .1, .25, 1, 2.5, 10, 30, 60},
		}, []string{"action", "type"}),
		ConfigRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posteed_config_revision", Help: "Revision of the cfg.yaml in use.",
		}),
		ReloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posteed_config_last_reload_successful", Help: "1 if the last reload loaded, 0 if it failed and the previous config was kept.",
		}),
		ReloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posteed_config_last_reload_success_timestamp_seconds", Help: "When a config last loaded (start or reload), Unix time.",
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "posteed_build_info", Help: "Always 1; the labels say what was built.",
	}, []string{"program", "version", "commit", "goversion"})
	buildInfo.WithLabelValues("posteed-controller", version, buildinfo.Commit(), buildinfo.GoVersion()).Set(1)
	m.Registry.MustRegister(m.EventsReceived, m.BadInput, m.RouteMatches, m.ActionRuns, m.ActionDuration,
		m.ConfigRevision, m.ReloadSuccess, m.ReloadTimestamp, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if fleet != nil {
		m.Registry.MustRegister(&fleetCollector{list: fleet})
	}
	m.ReloadSuccess.Set(1)
	m.ReloadTimestamp.Set(float64(time.Now().Unix()))
	return m
}

// Handler serves the registry in the text exposition format.
func (m *Controller) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Reloaded records a reload's result.
func (m *Controller) Reloaded(ok bool, revision int64, now time.Time) {
	if !ok {
		m.ReloadSuccess.Set(0)
		return
	}
	m.ReloadSuccess.Set(1)
	m.ReloadTimestamp.Set(float64(now.Unix()))
	m.ConfigRevision.Set(float64(revision))
}

// ActionDone counts one action attempt (engine.Observer, through the
// controller, which adds the status page's failure list).
func (m *Controller) ActionDone(action, typ, outcome string, d time.Duration) {
	m.ActionRuns.WithLabelValues(action, typ, outcome).Inc()
	if outcome != OutcomeRetried {
		m.ActionDuration.WithLabelValues(action, typ).Observe(d.Seconds())
	}
}

var (
	descConnected = prometheus.NewDesc("posteed_runner_connected", "1 while the runner heartbeats.", []string{"runner"}, nil)
	descRevision  = prometheus.NewDesc("posteed_runner_config_revision", "Config revision the runner applied.", []string{"runner"}, nil)
	descPending   = prometheus.NewDesc("posteed_runner_pending_work", "Work queued for the runner and not yet done.", []string{"runner"}, nil)
)

// fleetCollector reads the fleet view at scrape time, so a runner that
// went away is a 0, not a stale 1.
type fleetCollector struct{ list func() []FleetRunner }

func (f *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnected
	ch <- descRevision
	ch <- descPending
}

func (f *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range f.list() {
		connected := 0.0
		if r.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, r.Name)
		ch <- prometheus.MustNewConstMetric(descRevision, prometheus.GaugeValue, float64(r.ConfigRevision), r.Name)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(r.PendingWork), r.Name)
	}
}
