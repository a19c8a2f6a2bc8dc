package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postee-fleet/posteed/agent/buildinfo"
)

// Pipeline is what both daemons count of the engine's stages: the
// actions they run and the messages their plugins stage drops as
// duplicates. It is the engine's PluginsObserver.
type Pipeline struct {
	ActionRuns     *prometheus.CounterVec   // action, type, outcome
	ActionDuration *prometheus.HistogramVec // action, type
	DedupDropped   *prometheus.CounterVec   // route
}

func newPipeline() Pipeline {
	return Pipeline{
		ActionRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_action_runs_total", Help: "Action attempts run in this process, by outcome: ok, failed (final), retried.",
		}, []string{"action", "type", "outcome"}),
		ActionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "posteed_action_duration_seconds", Help: "Time an action took, retries included.",
			Buckets: []float64{.005, .025, .1, .25, 1, 2.5, 10, 30, 60},
		}, []string{"action", "type"}),
		DedupDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posteed_dedup_dropped_total", Help: "Messages this process dropped as duplicates (unique-message-props), by route.",
		}, []string{"route"}),
	}
}

func (p Pipeline) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.ActionRuns, p.ActionDuration, p.DedupDropped}
}

// ActionDone counts one action attempt (engine.Observer, through an
// adapter: this package does not import the engine).
func (p Pipeline) ActionDone(action, typ, outcome string, d time.Duration) {
	p.ActionRuns.WithLabelValues(action, typ, outcome).Inc()
	if outcome != OutcomeRetried {
		p.ActionDuration.WithLabelValues(action, typ).Observe(d.Seconds())
	}
}

// Deduplicated implements engine.PluginsObserver.
func (p Pipeline) Deduplicated(route string) { p.DedupDropped.WithLabelValues(route).Inc() }

func buildInfo(program, version string) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "posteed_build_info", Help: "Always 1; the labels say what was built.",
	}, []string{"program", "version", "commit", "goversion"})
	g.WithLabelValues(program, version, buildinfo.Commit(), buildinfo.GoVersion()).Set(1)
	return g
}

const heldName = "posteed_aggregation_held"

// heldCollector reads the messages held for aggregation at scrape time:
// the store is the truth (on the controller, shared by every controller).
type heldCollector struct {
	desc *prometheus.Desc
	read func() map[string]int
}

func (h *heldCollector) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *heldCollector) Collect(ch chan<- prometheus.Metric) {
	if h.read == nil {
		return
	}
	for route, n := range h.read() {
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, float64(n), route)
	}
}

var (
	descNATSConnected = prometheus.NewDesc("posteed_nats_connected",
		"1 while the controller's connection to NATS (embedded server or cluster) is up.", nil, nil)
	descStreamMessages = prometheus.NewDesc("posteed_jetstream_stream_messages",
		"Messages in the fleet's JetStream stream, read at scrape time (the same on every controller sharing it).", []string{"stream"}, nil)
	descStreamBytes = prometheus.NewDesc("posteed_jetstream_stream_bytes",
		"Bytes in the fleet's JetStream stream, read at scrape time (the same on every controller sharing it).", []string{"stream"}, nil)
)

// natsCollector reads the controller's NATS link and the fleet's streams
// at scrape time.
type natsCollector struct{ read func() (NATSState, bool) }

func (n *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descNATSConnected
	ch <- descStreamMessages
	ch <- descStreamBytes
}

func (n *natsCollector) Collect(ch chan<- prometheus.Metric) {
	if n.read == nil {
		return
	}
	st, ok := n.read()
	if !ok {
		return
	}
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descNATSConnected, prometheus.GaugeValue, connected)
	for _, s := range st.Streams {
		ch <- prometheus.MustNewConstMetric(descStreamMessages, prometheus.GaugeValue, float64(s.Messages), s.Name)
		ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.GaugeValue, float64(s.Bytes), s.Name)
	}
}
