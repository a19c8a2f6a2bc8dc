// Package lite is the runner's metrics.Registry: counters, fixed-bucket
// histograms, gauges read at scrape time and the go_* and process_*
// metrics, served in the text exposition format (0.0.4). It is what the
// runner uses of client_golang, without client_golang's protobuf, its init
// and its memory.
package lite

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/postee-fleet/posteed/agent/metrics"
)

// Registry holds one daemon's metrics.
type Registry struct {
	mu         sync.Mutex // guards collectors and names
	collectors []collector
	names      map[string]bool
}

var _ metrics.Registry = (*Registry)(nil)

// collector appends its families as they are now.
type collector func(out []family) []family

// family is one metric family at a scrape.
type family struct {
	name, help, typ string
	series          []series
}

// series is one label set's samples: one for a counter or gauge, the
// buckets, sum and count of a histogram.
type series struct {
	labels  string // rendered pairs, sorted by label name: a="x",b="y"
	samples []sample
}

type sample struct {
	suffix string // _bucket, _sum, _count
	extra  string // a rendered pair after the labels: le="0.1"
	value  float64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

// add registers c for the families named; a name registered twice panics,
// as client_golang's MustRegister does.
func (r *Registry) add(c collector, names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		if r.names[n] {
			panic(fmt.Sprintf("metric %s registered twice", n))
		}
		r.names[n] = true
	}
	r.collectors = append(r.collectors, c)
}

// CounterVec implements metrics.Registry.
func (r *Registry) CounterVec(d metrics.Def) metrics.CounterVec {
	v := &CounterVec{vec: newVec(d, func() *Counter { return new(Counter) })}
	r.add(v.collect, d.Name)
	return v
}

// HistogramVec implements metrics.Registry.
func (r *Registry) HistogramVec(d metrics.Def) metrics.HistogramVec {
	v := &HistogramVec{vec: newVec(d, func() *Histogram { return newHistogram(d.Buckets) })}
	r.add(v.collect, d.Name)
	return v
}

// GaugeFunc implements metrics.Registry.
func (r *Registry) GaugeFunc(d metrics.Def, read func() float64) { r.valueFunc(d, "gauge", read) }

// CounterFunc implements metrics.Registry.
func (r *Registry) CounterFunc(d metrics.Def, read func() float64) { r.valueFunc(d, "counter", read) }

func (r *Registry) valueFunc(d metrics.Def, typ string, read func() float64) {
	r.add(func(out []family) []family {
		return append(out, family{name: d.Name, help: d.Help, typ: typ, series: []series{{samples: []sample{{value: read()}}}}})
	}, d.Name)
}

// GaugesFunc implements metrics.Registry.
func (r *Registry) GaugesFunc(d metrics.Def, read func(emit metrics.Emit)) {
	order := labelOrder(d.Labels)
	r.add(func(out []family) []family {
		f := family{name: d.Name, help: d.Help, typ: "gauge"}
		read(func(v float64, values ...string) {
			f.series = append(f.series, series{labels: renderLabels(d.Labels, order, values), samples: []sample{{value: v}}})
		})
		return append(out, f)
	}, d.Name)
}

// Handler implements metrics.Registry.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		r.Write(&b)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	})
}

// Write writes every family with series in the text exposition format,
// families sorted by name and series by labels, as client_golang does.
func (r *Registry) Write(b *bytes.Buffer) {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	var fams []family
	for _, c := range cs {
		fams = c(fams)
	}
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	for _, f := range fams {
		if len(f.series) == 0 {
			continue
		}
		slices.SortFunc(f.series, func(a, b series) int { return strings.Compare(a.labels, b.labels) })
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", f.name, helpEscaper.Replace(f.help), f.name, f.typ)
		for _, s := range f.series {
			for _, sm := range s.samples {
				writeSample(b, f.name, s.labels, sm)
			}
		}
	}
}

func writeSample(b *bytes.Buffer, name, labels string, s sample) {
	b.WriteString(name)
	b.WriteString(s.suffix)
	if labels != "" || s.extra != "" {
		b.WriteByte('{')
		b.WriteString(labels)
		if labels != "" && s.extra != "" {
			b.WriteByte(',')
		}
		b.WriteString(s.extra)
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(s.value))
	b.WriteByte('\n')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// labelOrder is the order in which labels are written: by name.
func labelOrder(names []string) []int {
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	return order
}

func renderLabels(names []string, order []int, values []string) string {
	if len(values) != len(names) {
		panic(fmt.Sprintf("%d label values for labels %v", len(values), names))
	}
	var b strings.Builder
	for n, i := range order {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pair(names[i], values[i]))
	}
	return b.String()
}

func pair(name, value string) string { return name + `="` + valueEscaper.Replace(value) + `"` }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
