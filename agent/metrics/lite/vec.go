package lite

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/postee-fleet/posteed/agent/metrics"
)

// vec is a family's series, made on first use.
type vec[T any] struct {
	def   metrics.Def
	order []int
	mk    func() *T

	mu       sync.RWMutex         // guards children
	children map[string]*child[T] // by label values joined with \xff
}

type child[T any] struct {
	labels string // rendered
	m      *T
}

func newVec[T any](d metrics.Def, mk func() *T) vec[T] {
	return vec[T]{def: d, order: labelOrder(d.Labels), mk: mk, children: map[string]*child[T]{}}
}

func (v *vec[T]) get(values []string) *T {
	key := strings.Join(values, "\xff") // \xff is never in UTF-8
	v.mu.RLock()
	c := v.children[key]
	v.mu.RUnlock()
	if c != nil {
		return c.m
	}
	labels := renderLabels(v.def.Labels, v.order, values)
	v.mu.Lock()
	defer v.mu.Unlock()
	if c = v.children[key]; c == nil {
		c = &child[T]{labels: labels, m: v.mk()}
		v.children[key] = c
	}
	return c.m
}

// each calls f for every series, in no order.
func (v *vec[T]) each(f func(labels string, m *T)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, c := range v.children {
		f(c.labels, c.m)
	}
}

// Counter is one counter series.
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds d, which must not be negative.
func (c *Counter) Add(d float64) {
	if d < 0 {
		panic(fmt.Sprintf("counter decreased by %v", d))
	}
	addFloat(&c.bits, d)
}

func (c *Counter) value() float64 { return math.Float64frombits(c.bits.Load()) }

func addFloat(bits *atomic.Uint64, d float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// CounterVec is a counter family with labels.
type CounterVec struct{ vec vec[Counter] }

// WithLabelValues is the series of values, in the order of the labels.
func (v *CounterVec) WithLabelValues(values ...string) metrics.Counter { return v.vec.get(values) }

func (v *CounterVec) collect(out []family) []family {
	f := family{name: v.vec.def.Name, help: v.vec.def.Help, typ: "counter"}
	v.vec.each(func(labels string, c *Counter) {
		f.series = append(f.series, series{labels: labels, samples: []sample{{value: c.value()}}})
	})
	return append(out, f)
}

// Histogram is one histogram series with fixed buckets.
type Histogram struct {
	upper  []float64       // bucket upper bounds, ascending
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf's
	sum    atomic.Uint64   // float64 bits
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// Observe counts v in the first bucket whose upper bound is ≥ v (NaN only
// in +Inf's, as client_golang does).
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.upper, v)
	if math.IsNaN(v) {
		i = len(h.upper)
	}
	h.counts[i].Add(1)
	addFloat(&h.sum, v)
}

func (h *Histogram) samples() []sample {
	out := make([]sample, 0, len(h.counts)+2)
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.upper) {
			le = formatFloat(h.upper[i])
		}
		out = append(out, sample{suffix: "_bucket", extra: `le="` + le + `"`, value: float64(n)})
	}
	return append(out, sample{suffix: "_sum", value: math.Float64frombits(h.sum.Load())}, sample{suffix: "_count", value: float64(n)})
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ vec vec[Histogram] }

// WithLabelValues is the series of values, in the order of the labels.
func (v *HistogramVec) WithLabelValues(values ...string) metrics.Observer { return v.vec.get(values) }

func (v *HistogramVec) collect(out []family) []family {
	f := family{name: v.vec.def.Name, help: v.vec.def.Help, typ: "histogram"}
	v.vec.each(func(labels string, h *Histogram) {
		f.series = append(f.series, series{labels: labels, samples: h.samples()})
	})
	return append(out, f)
}
