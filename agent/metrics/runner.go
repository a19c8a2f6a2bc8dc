package metrics

import "net/http"

// RunnerState is what the runner's metrics read at scrape time.
type RunnerState struct {
	SpoolPending   func() int64 // events spooled, not yet taken by the controller
	SpoolDropped   func() int64
	ConfigRevision func() int64
	Connected      func() bool           // to the controller's NATS
	Held           func() map[string]int // messages held for aggregation, by route
}

// Runner is the runner's metrics, in its own registry.
type Runner struct {
	Registry Registry
	Pipeline

	EventsReceived CounterVec // source
	BadInput       CounterVec // reason
	// TracefileEvents is EventsReceived{source="tracefile"}, resolved once:
	// it counts every Tracee line.
	TracefileEvents Counter
	TraceeLines     CounterVec // file
	TraceeBadLines  CounterVec // file
	WorkRedelivered CounterVec // runner
}

// NewRunner registers the runner's metrics in reg (the runner's: lite).
func NewRunner(reg Registry, version string, st RunnerState) *Runner {
	m := &Runner{
		Registry: reg,
		Pipeline: NewPipeline(reg),
		EventsReceived: reg.CounterVec(Def{Name: "posteed_events_received_total", Help: "Events received, by source (webhook, tracefile).",
			Labels: []string{"source"}}),
		BadInput: reg.CounterVec(Def{Name: "posteed_bad_input_total", Help: "Input refused, by reason (too_large, unreadable, not_json, unknown_route).",
			Labels: []string{"reason"}}),
		TraceeLines: reg.CounterVec(Def{Name: "posteed_tracee_lines_total", Help: "Tracee lines taken in, by file: the tracee-files entry (made absolute) that matched.",
			Labels: []string{"file"}}),
		TraceeBadLines: reg.CounterVec(Def{Name: "posteed_tracee_bad_lines_total", Help: "Tracee lines skipped, not JSON or longer than 1 MiB, by file: the tracee-files entry (made absolute) that matched.",
			Labels: []string{"file"}}),
		WorkRedelivered: reg.CounterVec(Def{Name: "posteed_work_redelivered_total",
			Help:   "Jobs JetStream delivered to this runner more than once: after a crash, a job handed back at a stop or while waiting for the config naming its action, or one past its ack wait.",
			Labels: []string{"runner"}}),
	}
	m.TracefileEvents = m.EventsReceived.WithLabelValues(SourceTracefile)
	f := func(get func() int64) func() float64 { return func() float64 { return float64(get()) } }
	BuildInfo(reg, "postee-runner", version)
	Held(reg, "Messages this runner holds for aggregation now (for its own actions), by route.", st.Held)
	reg.GaugeFunc(Def{Name: "posteed_spool_pending_events", Help: "Events spooled for the controller and not yet taken."}, f(st.SpoolPending))
	reg.CounterFunc(Def{Name: "posteed_spool_dropped_total", Help: "Spooled events dropped (unreadable or refused for good)."}, f(st.SpoolDropped))
	reg.GaugeFunc(Def{Name: "posteed_config_revision", Help: "Revision of the config slice in use (0: none yet)."}, f(st.ConfigRevision))
	reg.GaugeFunc(Def{Name: "posteed_controller_connected", Help: "1 while connected to the controller's NATS."}, func() float64 {
		if st.Connected() {
			return 1
		}
		return 0
	})
	reg.Runtime()
	return m
}

// TraceeFile makes file's series exist from 0, so that the first bad
// line is an increase Prometheus sees.
func (m *Runner) TraceeFile(file string) {
	m.TraceeLines.WithLabelValues(file)
	m.TraceeBadLines.WithLabelValues(file)
}

// Handler serves the registry in the text exposition format.
func (m *Runner) Handler() http.Handler { return m.Registry.Handler() }
