package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postee-fleet/posteed/agent/buildinfo"
)

// RunnerState is what the runner's metrics read at scrape time.
type RunnerState struct {
	SpoolPending   func() int64 // events spooled, not yet taken by the controller
	SpoolDropped   func() int64
	TraceeLines    func() int64 // Tracee lines evaluated
	ConfigRevision func() int64
	Connected      func() bool // to the controller's NATS
}

// Runner is the runner's metrics, in its own registry.
type Runner struct {
	Registry       *prometheus.Registry
	EventsReceived *prometheus.CounterVec // source
	BadInput       *prometheus.CounterVec // reason
	// TracefileEvents is EventsReceived{source="tracefile"}, resolved once:
	// it counts every Tracee line.
	TracefileEvents prometheus.Counter
}

// NewRunner registers the runner's metrics.
func NewRunner(version string, st RunnerState) *Runner {
	m := &Runner{
		Registry: prometheus.NewRegistry(),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_events_received_total", Help: "Events received, by source (webhook, tracefile).",
		}, []string{"source"}),
		BadInput: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_bad_input_total", Help: "Input refused, by reason (too_large, unreadable, not_json, unknown_route).",
		}, []string{"reason"}),
	}
	m.TracefileEvents = m.EventsReceived.WithLabelValues(SourceTracefile)
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "posteed_build_info", Help: "Always 1; the labels say what was built.",
	}, []string{"program", "version", "commit", "goversion"})
	buildInfo.WithLabelValues("postee-runner", version, buildinfo.Commit(), buildinfo.GoVersion()).Set(1)
	f := func(get func() int64) func() float64 { return func() float64 { return float64(get()) } }
	m.Registry.MustRegister(m.EventsReceived, m.BadInput, buildInfo,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posteed_spool_pending_events", Help: "Events spooled for the controller and not yet taken."}, f(st.SpoolPending)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "posteed_spool_dropped_total", Help: "Spooled events dropped (unreadable or refused for good)."}, f(st.SpoolDropped)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "posteed_tracee_lines_total", Help: "Tracee lines evaluated."}, f(st.TraceeLines)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posteed_config_revision", Help: "Revision of the config slice in use (0: none yet)."}, f(st.ConfigRevision)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posteed_controller_connected", Help: "1 while connected to the controller's NATS."}, func() float64 {
			if st.Connected() {
				return 1
			}
			return 0
		}),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the text exposition format.
func (m *Runner) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
