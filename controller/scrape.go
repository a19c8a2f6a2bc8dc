package controller

import (
	"context"
	"strings"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
)

// metricsState is what the controller's metrics read at each scrape.
// Before Ready (the pipeline and the fleet are being set up) the reads
// export nothing.
func (c *Controller) metricsState() metrics.ControllerState {
	return metrics.ControllerState{Fleet: c.fleetMetrics, Held: c.heldMetrics, NATS: c.natsMetrics}
}

// started reports whether Run set up the pipeline and the fleet (Ready).
func (c *Controller) started() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// fleetMetrics is the per-runner series.
func (c *Controller) fleetMetrics() []metrics.FleetRunner {
	if !c.started() || c.fleet == nil {
		return nil
	}
	var out []metrics.FleetRunner
	for _, r := range c.fleet.list(context.Background()) {
		out = append(out, metrics.FleetRunner{Name: r.Name, Connected: r.Connected, ConfigRevision: r.ConfigRevision, PendingWork: r.PendingWork})
	}
	return out
}

// heldMetrics counts the messages held for aggregation: in controller mode
// the fleet's batches in JetStream, as this controller's watch sees them.
func (c *Controller) heldMetrics() map[string]int {
	if !c.started() {
		return nil
	}
	return c.plugins.Held(c.Engine())
}

// natsMetrics is the NATS connection and the size of the fleet's streams
// (the work queues, the events, the buckets of jsstate), read from the
// servers.
func (c *Controller) natsMetrics() (metrics.NATSState, bool) {
	if !c.started() || c.fleet == nil {
		return metrics.NATSState{}, false
	}
	st := metrics.NATSState{Connected: c.fleet.bus.nc.IsConnected()}
	if !st.Connected {
		return st, true
	}
	// Servers slow to answer must not hold the scrape: the stream series
	// are missing from it instead.
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timings.Scrape)
	defer cancel()
	list := c.fleet.bus.js.ListStreams(ctx)
	for info := range list.Info() {
		if name := info.Config.Name; fleetStream(name) {
			st.Streams = append(st.Streams, metrics.StreamState{Name: name, Messages: info.State.Msgs, Bytes: info.State.Bytes})
		}
	}
	if err := list.Err(); err != nil {
		c.log.Debug("JetStream streams not read for the metrics", logx.Err(err))
	}
	return st, true
}

// fleetStream is one of the streams posteed makes (POSTEED_WORK, _UP,
// _EVENTS, and the buckets of jsstate, all named posteed_*): only those
// become label values, whatever else an external account holds.
func fleetStream(name string) bool {
	return strings.HasPrefix(name, "POSTEED_") || strings.HasPrefix(name, "KV_posteed_")
}
