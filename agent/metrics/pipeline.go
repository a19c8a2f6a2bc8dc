package metrics

import (
	"time"

	"github.com/postee-fleet/posteed/agent/buildinfo"
)

// The families both daemons export, defined once.
var (
	actionRuns = Def{Name: "posteed_action_runs_total", Help: "Action attempts run in this process, by outcome: ok, failed (final), retried.",
		Labels: []string{"action", "type", "outcome"}}
	actionDuration = Def{Name: "posteed_action_duration_seconds", Help: "Time an action took, retries included.",
		Labels: []string{"action", "type"}, Buckets: []float64{.005, .025, .1, .25, 1, 2.5, 10, 30, 60}}
	dedupDropped = Def{Name: "posteed_dedup_dropped_total", Help: "Messages this process dropped as duplicates (unique-message-props), by route.",
		Labels: []string{"route"}}
	buildInfoDef = Def{Name: "posteed_build_info", Help: "Always 1; the labels say what was built.",
		Labels: []string{"program", "version", "commit", "goversion"}}
)

// Pipeline is what both daemons count of the engine's stages: the
// actions they run and the messages their plugins stage drops as
// duplicates. It is the engine's PluginsObserver.
type Pipeline struct {
	ActionRuns     CounterVec   // action, type, outcome
	ActionDuration HistogramVec // action, type
	DedupDropped   CounterVec   // route
}

// NewPipeline registers the pipeline's families in reg.
func NewPipeline(reg Registry) Pipeline {
	return Pipeline{
		ActionRuns:     reg.CounterVec(actionRuns),
		ActionDuration: reg.HistogramVec(actionDuration),
		DedupDropped:   reg.CounterVec(dedupDropped),
	}
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

// BuildInfo registers posteed_build_info.
func BuildInfo(reg Registry, program, version string) {
	commit, goversion := buildinfo.Commit(), buildinfo.GoVersion()
	reg.GaugesFunc(buildInfoDef, func(emit Emit) { emit(1, program, version, commit, goversion) })
}

// Held registers posteed_aggregation_held, read at scrape time: the store
// is the truth (on the controller, shared by every controller). help says
// whose messages it counts.
func Held(reg Registry, help string, read func() map[string]int) {
	reg.GaugesFunc(Def{Name: "posteed_aggregation_held", Help: help, Labels: []string{"route"}}, func(emit Emit) {
		if read == nil {
			return
		}
		for route, n := range read() {
			emit(float64(n), route)
		}
	})
}
