package runner

import (
	"context"
	"errors"

	"github.com/postee-fleet/posteed/agent/admin"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/metrics"
	"github.com/postee-fleet/posteed/agent/metrics/lite"
)

// newMetrics registers the runner's metrics before the parts that count
// exist: what is read at scrape time is reached through r.
func (r *Runner) newMetrics() *metrics.Runner {
	return metrics.NewRunner(lite.NewRegistry(), r.opts.Version, metrics.RunnerState{
		SpoolPending:   func() int64 { return r.up.Pending() },
		SpoolDropped:   func() int64 { return r.up.Dropped() },
		ConfigRevision: r.Revision,
		Connected:      func() bool { return r.link.connected() },
		Held:           func() map[string]int { return r.plugins.Held(r.Engine()) },
	})
}

// actionMetrics counts the action runs of the runner's engines.
type actionMetrics struct{ m *metrics.Runner }

var _ engine.Observer = actionMetrics{}

func (a actionMetrics) ActionDone(r engine.ActionResult) {
	a.m.ActionDone(r.Action, r.Type, r.Outcome, r.Duration)
}

// startAdmin binds and serves the admin listener ("" in the settings:
// none); stop shuts it down.
func (r *Runner) startAdmin() (stop func(), err error) {
	srv, err := admin.Listen(r.opts.Settings.Admin, admin.Options{Metrics: r.metrics.Handler(), Healthy: r.Healthy, Ready: r.readiness})
	if err != nil || srv == nil {
		return func() {}, err
	}
	r.adminAddr = srv.Addr()
	go func() {
		if err := srv.Serve(); err != nil {
			r.log.Error("admin listener stopped", logx.Err(err))
		}
	}()
	return func() { _ = srv.Shutdown(context.Background()) }, nil
}

var errNoConfig = errors.New("no config slice from the controller yet")

func (r *Runner) readiness() error {
	select {
	case <-r.ready:
	default:
		return errNoConfig
	}
	return r.Healthy()
}

// AdminAddr is the bound admin address ("" when off), after Ready.
func (r *Runner) AdminAddr() string { return r.adminAddr }
