package controller

import (
	"time"

	"github.com/postee-fleet/posteed/agent/settings"
)

// Timings are the controller's waits. Each reaches the part that waits
// through its dependencies (Options, fleetDeps); a zero field takes its
// default (defaultTimings). They are options so that tests can shorten
// them: posteed-controller sets none. The fleet's windows are judged
// against what other controllers and the runners write, so every
// controller of a fleet runs with the same ones.
type Timings struct {
	// Starting.

	// RetryFor is how long starting tries JetStream again while it does
	// not answer (2 min): a cluster that lost a server or elects a leader
	// answers its API calls with timeouts for a while, and a controller
	// started with its cluster waits for it rather than fail. RetryMin and
	// RetryMax bound the doubling pause between tries (1 s, 10 s).
	RetryFor, RetryMin, RetryMax time.Duration

	// Running and reporting.

	// Settle lets an editor finish its writes (truncate, write, rename)
	// before a changed cfg.yaml is reloaded with watch-config (300 ms).
	Settle time.Duration
	// StatusEvery spaces the STATUS= lines systemctl status shows (10 s).
	StatusEvery time.Duration
	// Retire is how long a replaced engine stays open for the events in
	// flight on it (1 min).
	Retire time.Duration
	// WorkerIdle is how long an event worker without work stays for the
	// next one (1 min): its grown stack is kept for it.
	WorkerIdle time.Duration
	// Scrape bounds the JetStream read of a metrics scrape (2 s): servers
	// slow to answer must not hold it; the stream series are then missing
	// from it.
	Scrape time.Duration

	// The runners.

	// RegistryRefresh is how old a runner's registry entry may grow before
	// a heartbeat rewrites it though nothing it reports changed (20 s);
	// ConnectedWindow is how young it must be for the runner to count as
	// connected (30 s). A runner heartbeats every transport.HeartbeatInterval
	// (5 s, the runner's Timings.Heartbeat): ConnectedWindow must exceed
	// RegistryRefresh plus a heartbeat, or connected runners blink out.
	RegistryRefresh, ConnectedWindow time.Duration
	// WorkAckWait is how long a runner may stay silent on a job before
	// JetStream hands it out again (30 s), set on each runner's work
	// consumer when it is created: after a runner crash its unfinished work
	// comes back this soon. A runner working on a long job says so every
	// 10 s (the runner's Timings.KeepAlive), well inside it.
	WorkAckWait time.Duration
	// PendingRefresh spaces the reads of how much work waits for each
	// runner (2 s): the fleet view's counts, and a full queue forgotten
	// once it has room again.
	PendingRefresh time.Duration
	// SlicesStore bounds the wait for the servers to store the slices of a
	// new revision (30 s); those not stored by then are logged.
	SlicesStore time.Duration
	// Request bounds the JetStream requests made for one runner message
	// (10 s): a heartbeat's registry entry, work consumer and slice, a
	// config request's slice, the hosts of an admitted runner.
	Request time.Duration

	// The events, and the other controllers.

	// EventAckWait is how long a controller may hold an event before
	// another gets it (30 s), set on the durable consumers the controllers
	// share (every controller sets the same, or each replaces the
	// consumer the other made); KeepAlive spaces the in-progress notes
	// that extend it while the event's actions run (10 s), well inside it.
	EventAckWait, KeepAlive time.Duration
	// ElsewhereRetry is how soon an event is handled again when another
	// controller, live, started one of its actions (2 s): that controller
	// finishes the step when the event reaches it. EventRetry is how soon
	// an event not handled for a reason that may pass is (5 s).
	ElsewhereRetry, EventRetry time.Duration
	// ControllerRefresh spaces the rewrites of this controller's liveness
	// entry (10 s); Announce bounds one (5 s), so a slow write ends before
	// the next. A controller whose entry is older than ControllerLive is
	// gone (90 s, covering a restart on a cluster still electing leaders),
	// and the actions it left started follow their on-crash policy
	// elsewhere: ControllerLive must exceed every controller's
	// ControllerRefresh by several.
	ControllerRefresh, Announce, ControllerLive time.Duration

	// Stopping.

	// HTTPStop bounds the end of taking webhook requests at a stop (20 s).
	HTTPStop time.Duration
	// Goodbye bounds deleting the liveness entry at a clean stop (2 s):
	// when it fails, the other controllers see this one gone only after
	// ControllerLive.
	Goodbye time.Duration
}

// defaultTimings are the waits of a controller in production.
var defaultTimings = Timings{
	RetryFor: 2 * time.Minute,
	RetryMin: time.Second,
	RetryMax: 10 * time.Second,

	Settle:      300 * time.Millisecond,
	StatusEvery: 10 * time.Second,
	Retire:      time.Minute,
	WorkerIdle:  time.Minute,
	Scrape:      2 * time.Second,

	RegistryRefresh: 20 * time.Second,
	ConnectedWindow: 30 * time.Second,
	WorkAckWait:     30 * time.Second,
	PendingRefresh:  2 * time.Second,
	SlicesStore:     30 * time.Second,
	Request:         10 * time.Second,

	EventAckWait:      30 * time.Second,
	KeepAlive:         10 * time.Second,
	ElsewhereRetry:    2 * time.Second,
	EventRetry:        5 * time.Second,
	ControllerRefresh: 10 * time.Second,
	Announce:          5 * time.Second,
	ControllerLive:    90 * time.Second,

	HTTPStop: 20 * time.Second,
	Goodbye:  2 * time.Second,
}

// withDefaults fills every zero (or negative) field from defaultTimings.
func (t Timings) withDefaults() Timings { return settings.Durations(t, defaultTimings) }
