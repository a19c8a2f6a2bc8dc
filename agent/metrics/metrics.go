// Package metrics holds the daemons' metric definitions and what each
// counts, over a small Registry interface with two implementations: the
// controller's on client_golang (package prom), the runner's a light one
// (package lite), which keeps client_golang and protobuf, their init and
// their memory, out of the runner. Each daemon builds its own registry
// (never a global one) and hands it to the parts that count; what lives
// elsewhere (the fleet view, held messages, JetStream) is read at scrape
// time.
//
// Label values are bounded: sources, reasons and outcomes are fixed words,
// routes and actions come from cfg.yaml, runner names from the fleet,
// files from runner.toml, streams are the fleet's own; no event ids or
// host names.
package metrics

import "net/http"

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

// Def defines one metric family once, for either registry.
type Def struct {
	Name, Help string
	Labels     []string
	Buckets    []float64 // histograms only
}

// Counter is one counter series.
type Counter interface {
	Inc()
	Add(float64)
}

// Observer is one histogram series.
type Observer interface{ Observe(float64) }

// CounterVec is a counter family with labels.
type CounterVec interface {
	WithLabelValues(values ...string) Counter
}

// HistogramVec is a histogram family with labels.
type HistogramVec interface {
	WithLabelValues(values ...string) Observer
}

// Emit hands one series read at scrape time: its value and label values.
type Emit func(v float64, labelValues ...string)

// Registry makes and serves the metrics of one daemon. The families it
// makes are registered; the read functions run at each scrape.
type Registry interface {
	CounterVec(Def) CounterVec
	HistogramVec(Def) HistogramVec
	GaugeFunc(d Def, read func() float64)
	CounterFunc(d Def, read func() float64)
	// GaugesFunc is a gauge family whose series read calls emit for.
	GaugesFunc(d Def, read func(emit Emit))
	// Runtime adds the go_* and process_* metrics.
	Runtime()
	// Handler serves the registry in the text exposition format.
	Handler() http.Handler
}

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
