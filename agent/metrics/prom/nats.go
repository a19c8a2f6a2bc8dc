package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postee-fleet/posteed/agent/metrics"
)

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
type natsCollector struct {
	read func() (metrics.NATSState, bool)
}

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
