// Package prom is the controller's metrics, on client_golang, and the
// metrics.Registry over a client_golang registry.
package prom

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postee-fleet/posteed/agent/metrics"
)

// Registry is a metrics.Registry over a client_golang registry.
type Registry struct{ *prometheus.Registry }

var _ metrics.Registry = Registry{}

// Wrap makes reg a metrics.Registry.
func Wrap(reg *prometheus.Registry) Registry { return Registry{reg} }

// CounterVec implements metrics.Registry.
func (r Registry) CounterVec(d metrics.Def) metrics.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, d.Labels)
	r.MustRegister(v)
	return counterVec{v}
}

// HistogramVec implements metrics.Registry.
func (r Registry) HistogramVec(d metrics.Def) metrics.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: d.Name, Help: d.Help, Buckets: d.Buckets}, d.Labels)
	r.MustRegister(v)
	return histogramVec{v}
}

// GaugeFunc implements metrics.Registry.
func (r Registry) GaugeFunc(d metrics.Def, read func() float64) {
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: d.Name, Help: d.Help}, read))
}

// CounterFunc implements metrics.Registry.
func (r Registry) CounterFunc(d metrics.Def, read func() float64) {
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: d.Name, Help: d.Help}, read))
}

// GaugesFunc implements metrics.Registry.
func (r Registry) GaugesFunc(d metrics.Def, read func(emit metrics.Emit)) {
	r.MustRegister(&gauges{desc: prometheus.NewDesc(d.Name, d.Help, d.Labels, nil), read: read})
}

// Runtime implements metrics.Registry.
func (r Registry) Runtime() {
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Handler implements metrics.Registry.
func (r Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.Registry, promhttp.HandlerOpts{Registry: r.Registry})
}

type counterVec struct{ *prometheus.CounterVec }

func (v counterVec) WithLabelValues(values ...string) metrics.Counter {
	return v.CounterVec.WithLabelValues(values...)
}

type histogramVec struct{ *prometheus.HistogramVec }

func (v histogramVec) WithLabelValues(values ...string) metrics.Observer {
	return v.HistogramVec.WithLabelValues(values...)
}

// gauges is a gauge family read at scrape time.
type gauges struct {
	desc *prometheus.Desc
	read func(emit metrics.Emit)
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	g.read(func(v float64, labelValues ...string) {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, labelValues...)
	})
}
