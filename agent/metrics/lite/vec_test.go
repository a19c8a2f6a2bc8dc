package lite

import (
	"math"
	"testing"
)

// Buckets are cumulative, +Inf holds everything, and NaN is counted only in
// +Inf (as client_golang counts it).
func TestHistogramBuckets(t *testing.T) {
	h := newHistogram([]float64{0.1, 1})
	for _, v := range []float64{0.05, 0.1, 0.5, 3, math.NaN()} {
		h.Observe(v)
	}
	want := []float64{2, 3, 5}
	got := h.samples()
	for i, w := range want {
		if got[i].suffix != "_bucket" || got[i].value != w {
			t.Fatalf("bucket %d: %+v, want %v", i, got[i], w)
		}
	}
	if n := got[len(got)-1]; n.suffix != "_count" || n.value != 5 {
		t.Fatalf("count %+v", n)
	}
}
