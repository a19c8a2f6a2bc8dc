package prom

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postee-fleet/posteed/agent/metrics"
)

// Controller is the controller's metrics.
type Controller struct {
	Registry *prometheus.Registry
	metrics.Pipeline

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
func NewController(version string, st metrics.ControllerState) *Controller {
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
	reg := Wrap(m.Registry)
	m.Pipeline = metrics.NewPipeline(reg)
	m.Registry.MustRegister(m.EventsReceived, m.BadInput, m.RouteMatches, m.WorkDispatched,
		m.ConfigRevision, m.ReloadSuccess, m.ReloadTimestamp, &fleetCollector{list: st.Fleet}, &natsCollector{read: st.NATS})
	metrics.BuildInfo(reg, "posteed-controller", version)
	metrics.Held(reg, heldHelpController, st.Held)
	reg.Runtime()
	m.ReloadSuccess.Set(1)
	m.ReloadTimestamp.Set(float64(time.Now().Unix()))
	return m
}

// Handler serves the registry in the text exposition format.
func (m *Controller) Handler() http.Handler { return Wrap(m.Registry).Handler() }

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
type fleetCollector struct{ list func() []metrics.FleetRunner }

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
