package runner

import (
	"time"

	"github.com/postee-fleet/posteed/agent/settings"
	"github.com/postee-fleet/posteed/agent/transport"
)

// Timings are the runner's waits. Each reaches the part that waits through
// its dependencies; a zero field takes its default (defaultTimings). They
// are options so that tests can shorten them: runner.toml sets none.
type Timings struct {
	// Starting and reporting.

	// ConfigWait is how long a start waits for a first slice before READY
	// (10 s); without one, events are spooled for the controller.
	ConfigWait time.Duration
	// StatusEvery spaces the STATUS= lines systemctl status shows (10 s).
	StatusEvery time.Duration
	// Heartbeat spaces the heartbeats the controller tracks runners by
	// (transport.HeartbeatInterval, 5 s).
	Heartbeat time.Duration

	// Saving progress: what a crash makes the runner do again.

	// LocalSave spaces the saves of the local position while it moves
	// (100 ms): entries past it are evaluated again after a crash (their
	// done steps do not run again).
	LocalSave time.Duration
	// TraceeCommit spaces the commits of Tracee file offsets (200 ms):
	// lines past them are read again after a crash. Each commit fsyncs the
	// journal first.
	TraceeCommit time.Duration
	// DiskSync spaces the fsyncs of the idempotency log and the saves of
	// the upstream position while it moves (1 s): a host crash loses the
	// last second of marks; entries sent again are dropped by JetStream.
	DiskSync time.Duration
	// ScanHeld spaces the checks of held aggregations against their
	// timeout (1 s).
	ScanHeld time.Duration
	// Settle lets an editor finish its writes (truncate, write, rename)
	// before a changed runner.toml is read (100 ms).
	Settle time.Duration
	// Poll spaces the looks at the local actions' progress where nothing
	// signals it (10 ms): Tracee reading held while they fall behind, and
	// the stop's drain.
	Poll time.Duration

	// Talking to the controller.

	// SliceGet bounds reading the slice from the fleet's bucket (2 s): any
	// NATS server answers at once, so a controller is asked soon.
	SliceGet time.Duration
	// Request bounds one answer from the controller or JetStream (5 s): a
	// config request, an event's publish ack, a job's ack.
	Request time.Duration
	// RetryMin and RetryMax bound the doubling backoff of a stage whose
	// next step fails (100 ms, 10 s): the upstream's sends (a reconnect
	// ends the wait at once) and the Tracee follower's hand-offs to the
	// journal (a full disk).
	RetryMin, RetryMax time.Duration
	// WorkLookup is how soon the work queue is looked for again while the
	// controller has not created it yet or its leader does not answer
	// (500 ms): work waits on it.
	WorkLookup time.Duration
	// WorkRetry is how soon work that cannot go on is tried again (2 s):
	// reading the work queue after an error, and a job naming an action
	// whose config is on its way.
	WorkRetry time.Duration
	// UnfinishedRetry is how soon a job whose step could not be recorded
	// (a full disk) is delivered again (5 s).
	UnfinishedRetry time.Duration
	// PullExpiry is a work pull request's life (30 s, at least 1 s) and
	// PullHeartbeat the consumer's heartbeat within it (5 s, 0.5-30 s):
	// two missed heartbeats (the leader moved) make the runner pull again.
	PullExpiry, PullHeartbeat time.Duration
	// KeepAlive spaces the in-progress notes of a running job (10 s), well
	// inside the controller's 30 s ack wait.
	KeepAlive time.Duration

	// Replacing and stopping. postee-runner.service gives a stop
	// TimeoutStopSec=120s before SIGKILL: raising one of these means
	// raising it with them (TestStopBounds). Whatever is not done by then
	// is done after the restart: nothing taken in is lost.

	// Retire is how long a replaced engine stays open for the work in
	// flight on it (1 min).
	Retire time.Duration
	// StopBudget is how soon after the signal work in flight must be done
	// (80 s), leaving the rest of TimeoutStopSec for closing the journal
	// and the connection.
	StopBudget time.Duration
	// HTTPStop bounds the end of taking webhook requests at a stop (10 s).
	HTTPStop time.Duration
	// WorkDrain bounds the wait for jobs in progress at a stop (70 s):
	// past the exec action's default timeout (60 s), inside StopBudget.
	WorkDrain time.Duration
	// Flush bounds sending what was published (results, the last
	// heartbeat) before the connection closes (2 s).
	Flush time.Duration
}

// defaultTimings are the waits of a runner in production.
var defaultTimings = Timings{
	ConfigWait:  10 * time.Second,
	StatusEvery: 10 * time.Second,
	Heartbeat:   transport.HeartbeatInterval,

	LocalSave:    100 * time.Millisecond,
	TraceeCommit: 200 * time.Millisecond,
	DiskSync:     time.Second,
	ScanHeld:     time.Second,
	Settle:       100 * time.Millisecond,
	Poll:         10 * time.Millisecond,

	SliceGet:        2 * time.Second,
	Request:         5 * time.Second,
	RetryMin:        100 * time.Millisecond,
	RetryMax:        10 * time.Second,
	WorkLookup:      500 * time.Millisecond,
	WorkRetry:       2 * time.Second,
	UnfinishedRetry: 5 * time.Second,
	PullExpiry:      30 * time.Second,
	PullHeartbeat:   5 * time.Second,
	KeepAlive:       10 * time.Second,

	Retire:     time.Minute,
	StopBudget: 80 * time.Second,
	HTTPStop:   10 * time.Second,
	WorkDrain:  70 * time.Second,
	Flush:      2 * time.Second,
}

// withDefaults fills every zero (or negative) field from defaultTimings.
func (t Timings) withDefaults() Timings { return settings.Durations(t, defaultTimings) }
