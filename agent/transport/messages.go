package transport

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// Slice is the part of the controller's config that one runner needs: only
// its routes, their templates and actions, and the Rego files they use.
type Slice struct {
	Runner   string `json:"runner"`
	Revision int64  `json:"revision"`
	// Epoch changes when the controller's revision counter may have
	// restarted; within one epoch revisions only grow, so a runner ignores
	// a slice older than the one it runs.
	Epoch  string            `json:"epoch"`
	Digest string            `json:"digest"` // sha256 of Config and Files
	Config string            `json:"config"` // a Postee cfg.yaml
	Files  map[string]string `json:"files"`  // relative path → content
}

// Job is a route's actions dispatched to a runner, with the message the
// controller rendered. ID is the idempotency key: a redelivered Job with an
// ID the runner already executed is acked without running again.
type Job struct {
	// Runner is the runner the job is for: a runner terminates a job
	// addressed to another (one re-routed onto its queue).
	Runner    string          `json:"runner"`
	ID        string          `json:"id"`
	EventID   string          `json:"event_id"`
	Route     string          `json:"route"`
	Serialize bool            `json:"serialize"`
	Actions   []string        `json:"actions"`
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	URL       string          `json:"url,omitempty"`
	Event     json.RawMessage `json:"event"`
	// Revision is the controller's config revision when it dispatched the
	// job: a runner at that revision or later that lacks an action named
	// here will never have it, and drops the job. Revisions compare only
	// within one Epoch (see Slice).
	Revision int64  `json:"revision"`
	Epoch    string `json:"epoch,omitempty"`
}

// Envelope carries an event a runner took in up to the controller.
type Envelope struct {
	Runner    string          `json:"runner"`
	Host      string          `json:"host"`
	MachineID string          `json:"machine_id,omitempty"`
	EventID   string          `json:"event_id"`
	Received  time.Time       `json:"received"`
	Event     json.RawMessage `json:"event"`
	// Route is set for an event posted to /tenant/{route}: the controller
	// matches it against that route only.
	Route string `json:"route,omitempty"`
	// Revision is the config revision the runner evaluated the event with;
	// 0 means it had no config, so the controller dispatches the runner's
	// own actions back to it as work.
	Revision int64 `json:"revision"`
}

// Status is a runner's periodic heartbeat.
type Status struct {
	Runner         string    `json:"runner"`
	Host           string    `json:"host"`
	MachineID      string    `json:"machine_id,omitempty"`
	Version        string    `json:"version"`
	ConfigRevision int64     `json:"config_revision"`
	ConfigDigest   string    `json:"config_digest,omitempty"`
	Spooled        int64     `json:"spooled"` // events waiting to go upstream
	Intake         []string  `json:"intake,omitempty"`
	Time           time.Time `json:"time"`
	// Stopping is the goodbye of a runner that stops cleanly: it shows as
	// disconnected at once, not when its heartbeats are overdue.
	Stopping bool `json:"stopping,omitempty"`
}

// Outcome reports how a dispatched Job ended on the runner.
type Outcome struct {
	Runner   string `json:"runner"` // the sender, checked against the subject
	JobID    string `json:"job_id"`
	EventID  string `json:"event_id"`
	Route    string `json:"route"`
	Error    string `json:"error,omitempty"`
	Repeated bool   `json:"repeated,omitempty"` // already executed; not run again
}

// HeartbeatInterval is how often runners report.
const HeartbeatInterval = 5 * time.Second

// SliceDigest is the sha256 of a slice's config and files, in a fixed order.
func SliceDigest(s *Slice) string {
	h := sha256.New()
	h.Write([]byte(s.Config))
	names := make([]string, 0, len(s.Files))
	for n := range s.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h.Write([]byte{0})
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(s.Files[n]))
	}
	return hex.EncodeToString(h.Sum(nil))
}
