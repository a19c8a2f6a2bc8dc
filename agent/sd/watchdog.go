package sd

import (
	"context"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Watchdog pings systemd every half WatchdogSec while healthy returns nil,
// until ctx is done. While healthy fails it withholds the pings, so systemd
// restarts a daemon that is alive but stuck; pings resume if it recovers in
// time. Outside systemd, or without a watchdog for this process
// (WATCHDOG_USEC unset, or WATCHDOG_PID naming another process), it returns
// nil at once. Run it in its own goroutine. A nil healthy is always healthy.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() error) error {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("watchdog settings: %w", err)
	}
	if interval <= 0 {
		return nil
	}
	if healthy == nil {
		healthy = func() error { return nil }
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if ctx.Err() != nil {
			return nil // both were ready and select picked the tick
		}
		failing = n.watchdogTick(healthy, failing)
	}
}

// watchdogTick runs one health check and pings if it passed. It logs only on
// transitions, so a long outage does not flood the journal.
func (n *Notifier) watchdogTick(healthy func() error, failing bool) bool {
	if err := healthy(); err != nil {
		if !failing {
			n.log.Error("health check failed, withholding watchdog pings so systemd restarts the service", logx.Err(err))
		}
		return true
	}
	if failing {
		n.log.Info("health check passes again, resuming watchdog pings")
	}
	if err := n.send(daemon.SdNotifyWatchdog); err != nil {
		// Keep trying: a lost ping is better than giving up and being killed.
		n.log.Warn("watchdog ping", logx.Err(err))
	}
	return false
}
