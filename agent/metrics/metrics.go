// Package metrics holds the daemons' Prometheus metrics, each in an
// explicit registry (never the client library's global one): the
// controller builds a Controller, the runner a Runner, and each hands it
// to the parts that count; what lives elsewhere (the fleet view, held
// messages, JetStream) is read at scrape time.
//
// Label values are bounded: sources, reasons and outcomes are fixed words,
// routes and actions come from cfg.yaml, runner names from the fleet,
// files from runner.toml, streams are the fleet's own; no event ids or
// host names.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// NATSState is the controller's link to NATS, read at scrape time.
type NATSState struct {
	Connected bool
	// Streams are the fleet's JetStream streams (nil when they could not
	// be read in time).
	Streams []StreamState
}

// StreamState is one JetStream stream's size.
type StreamState struct {
	Name            string
	Messages, Bytes uint64
}

// ControllerState is what the controller's metrics read at each scrape; a
// nil func, or one that returns nothing, exports no series.
type ControllerState struct {
	Fleet func() []FleetRunner     // per-runner series (controller mode)
	Held  func() map[string]int    // messages held for aggregation, by route
	NATS  func() (NATSState, bool) // false outside controller mode
}

// Controller is the controller's metrics.
type Controller struct {
	Registry *prometheus.Registry
	Pipeline

	EventsReceived  *prometheus.CounterVec // source
	BadInput        *prometheus.CounterVec // reason
	RouteMatches    *prometheus.CounterVec // route
	WorkDispatched  *prometheus.CounterVec // runner
	ConfigRevision  prometheus.Gauge
	ReloadSuccess   prometheus.Gauge
	ReloadTimestamp prometheus.Gauge
}

// heldHelpController says what the controller's held gauge counts: with
// several controllers, each reads the same shared batches.
const heldHelpController = "Messages held for aggregation now, by route. In controller mode the fleet's, read from " +
	"JetStream: every controller sharing it reports the same count (aggregate with max, not sum)."

// NewController registers the controller's metrics; st is read at each
// scrape.
func NewController(version string, st ControllerState) *Controller {
	m := &Controller{
		Registry: prometheus.NewRegistry(),
		Pipeline: newPipeline(),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_events_received_total", Help: "Events received, by source (webhook, tracefile, runner_upstream).",
		}, []string{"source"}),
		BadInput: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_bad_input_total", Help: "Input refused, by reason (too_large, unreadable, not_json, unknown_route).",
		}, []string{"reason"}),
		RouteMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_route_matches_total", Help: "Events a route matched.",
		}, []string{"route"}),
		WorkDispatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_work_dispatched_total", Help: "Jobs this controller queued for a runner (a job JetStream already had, from an event handled again, is not counted).",
		}, []string{"runner"}),
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
	m.Registry.MustRegister(m.EventsReceived, m.BadInput, m.RouteMatches, m.WorkDispatched,
		m.ConfigRevision, m.ReloadSuccess, m.ReloadTimestamp, buildInfo("posteed-controller", version),
		&heldCollector{desc: prometheus.NewDesc(heldName, heldHelpController, []string{"route"}, nil), read: st.Held},
		&fleetCollector{list: st.Fleet}, &natsCollector{read: st.NATS},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(m.Pipeline.collectors()...)
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
	if f.list == nil {
		return
	}
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
