package metrics_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/metrics/lite"
	"github.com/postee-fleet/posteed/agent/metrics/metricstest"
	"github.com/postee-fleet/posteed/agent/metrics/prom"
)

// runnerExposition counts the same things on a runner built on reg as the
// runner's parts do, label values that need escaping included, and
// parses what it serves as Prometheus does.
func runnerExposition(t *testing.T, reg metrics.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	n := func() int64 { return 3 }
	r := metrics.NewRunner(reg, "test", metrics.RunnerState{SpoolPending: n, SpoolDropped: n, ConfigRevision: n,
		Connected: func() bool { return true }, Held: func() map[string]int { return map[string]int{"digest": 2, `q"uo\te` + "\n": 1} }})
	r.EventsReceived.WithLabelValues(metrics.SourceWebhook).Inc()
	r.TracefileEvents.Add(2)
	r.BadInput.WithLabelValues("not_json").Inc()
	r.TraceeFile("/var/log/tracee/events.json")
	r.TraceeLines.WithLabelValues("/var/log/tracee/events.json").Inc()
	r.WorkRedelivered.WithLabelValues("r1").Inc()
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 2 * time.Second, time.Minute, time.Hour} {
		r.ActionDone("a", "exec", metrics.OutcomeOK, d)
	}
	r.ActionDone("a", "exec", metrics.OutcomeRetried, time.Second)
	r.ActionDone(`b"\`, "http", metrics.OutcomeFailed, time.Second)
	r.Deduplicated("once")
	fams, err := metricstest.Scrape(r.Handler())
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// series renders a family's samples, one line each, sorted; values only
// where they are the same on both registries (not go_* or process_*).
func series(f *dto.MetricFamily, values bool) []string {
	var out []string
	for _, m := range f.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		s := strings.Join(labels, ",")
		if values {
			switch {
			case m.Counter != nil:
				s += fmt.Sprint(" ", m.GetCounter().GetValue())
			case m.Gauge != nil:
				s += fmt.Sprint(" ", m.GetGauge().GetValue())
			case m.Histogram != nil:
				h := m.GetHistogram()
				s += fmt.Sprint(" count ", h.GetSampleCount(), " sum ", h.GetSampleSum())
				for _, b := range h.GetBucket() {
					s += fmt.Sprint(" le ", b.GetUpperBound(), ":", b.GetCumulativeCount())
				}
			}
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestRunnerExposition: the runner's light registry serves what
// client_golang served for the same counts, and Prometheus's parser reads
// it: the same families with the same types and help, the same series with
// the same values; go_* and process_* the same families and labels.
func TestRunnerExposition(t *testing.T) {
	want := runnerExposition(t, prom.Wrap(prometheus.NewRegistry()))
	got := runnerExposition(t, lite.NewRegistry())
	// promhttp counts its failed scrapes; writing the light registry cannot fail.
	delete(want, "promhttp_metric_handler_errors_total")
	if w, g := slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)); !slices.Equal(w, g) {
		t.Fatalf("families:\n got %v\nwant %v", g, w)
	}
	for name, w := range want {
		g := got[name]
		if g.GetType() != w.GetType() {
			t.Errorf("%s: type %v, want %v", name, g.GetType(), w.GetType())
		}
		own := strings.HasPrefix(name, "posteed_")
		if own && g.GetHelp() != w.GetHelp() {
			t.Errorf("%s: help %q, want %q", name, g.GetHelp(), w.GetHelp())
		}
		if gs, ws := series(g, own), series(w, own); !slices.Equal(gs, ws) {
			t.Errorf("%s:\n got %q\nwant %q", name, gs, ws)
		}
	}
}

func TestLiteRegistersOnce(t *testing.T) {
	reg := lite.NewRegistry()
	reg.CounterVec(metrics.Def{Name: "x_total", Help: "x"})
	defer func() {
		if recover() == nil {
			t.Error("a family registered twice did not panic")
		}
	}()
	reg.GaugeFunc(metrics.Def{Name: "x_total", Help: "x"}, func() float64 { return 0 })
}
