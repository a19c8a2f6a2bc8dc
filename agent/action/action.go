// Package action defines what every action type implements and the registry
// that maps a Postee action `type:` to its constructor. Each type lives in
// its own package under agent/action/<type> and registers itself from init.
package action

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// Message is what an action receives: the rendered template output plus the
// event it came from. It is immutable once built; actions must not modify it.
type Message struct {
	// Title, Body and URL are the template's `title`, `result` and `url`.
	Title string
	Body  string
	URL   string
	// Event is the raw JSON event as it arrived.
	Event []byte
	// Input is the decoded event (map[string]any, []any, string, json.Number,
	// bool or nil), for `event.input.<path>` substitution. Never nil-safe to
	// mutate. Read it with Doc: when nil, LazyInput decodes it on first use
	// (most actions never look at it).
	Input     any
	LazyInput func() any
	// EventID identifies the event across controller and runners.
	EventID string
	// Route is the name of the route that matched.
	Route string
	// RunID names this run of the action (its idempotency key): the same
	// when the run is tried again after a crash. Set by the executor.
	RunID string
}

// Doc is the decoded event: Input, or what LazyInput decodes.
func (m Message) Doc() any {
	if m.Input == nil && m.LazyInput != nil {
		return m.LazyInput()
	}
	return m.Input
}

// Action performs one configured Postee action.
//
// Send returns retry=true when the failure is transient (network error,
// HTTP 5xx/429, timeout) and trying again later may succeed. The caller owns
// retries; an action never retries on its own.
type Action interface {
	Send(ctx context.Context, m Message) (retry bool, err error)
}

// Recoverer is implemented by actions that can tell, after the daemon died
// while they ran, whether that run finished anyway (an exec script keeps
// running and records its exit): such a run is not repeated.
type Recoverer interface {
	Recover(ctx context.Context, runID string) (finished bool, err error)
	// Forget is called once the run is recorded done: what the action
	// kept for Recover may go.
	Forget(runID string)
}

// Previewer is implemented by actions that do not send the rendered message
// as it is (http with body-content or body-file): the dry run
// (posteed-controller test) shows what they would send, sending nothing.
type Previewer interface {
	Preview(m Message) string
}

// Closer is implemented by actions that hold resources.
type Closer interface {
	Close() error
}

// Spec is what a constructor gets: the action's name and type, a strict
// decoder for its type-specific keys, and its dependencies.
type Spec struct {
	Name string
	Type string
	// Decode strictly decodes the action's type-specific keys (every key but
	// name, type, enable and runs-on) into v, a pointer to a struct with yaml
	// tags. An unknown key or a wrong type is an error naming file, line and
	// key. Use config.Duration for durations, and config.Secret,
	// config.SecretURL, config.URL and config.Text for values that may be a
	// secret or a reference to one ($NAME, ${NAME}, file:PATH): Decode
	// resolves them, checks them, and registers every secret for redaction.
	Decode func(v any) error
	// BaseDir is the directory of the config file, for relative paths.
	BaseDir string
	// Remote is set when the action runs on a runner, not in this process:
	// validate the keys, but do not require local files (scripts, body
	// files) to exist here; Decode checks references without resolving them.
	Remote bool
	// StateDir is the daemon's state directory, for what an action must
	// keep across a crash; "" when there is none (checks, dry runs).
	StateDir string
	Logger   *slog.Logger
	// OnWarning, when set, takes a problem that leaves the action loadable
	// but may keep it from working where it runs: check prints it and a
	// daemon logs it at load, with the action's file and line. Actions
	// call Warn.
	OnWarning func(msg string)
}

// Factory builds an action from its spec. It validates everything it can at
// load time so that a bad config fails before any event arrives.
type Factory func(spec Spec) (Action, error)

// Registry maps action types to factories.
type Registry struct {
	mu        sync.RWMutex
	factories map[string]Factory // guarded by mu
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a factory; registering a type twice panics (a programming error).
func (r *Registry) Register(typ string, f Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.factories[typ]; dup {
		panic(fmt.Sprintf("action type %q registered twice", typ))
	}
	r.factories[typ] = f
}

// Lookup returns the factory for typ.
func (r *Registry) Lookup(typ string) (Factory, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.factories[typ]
	return f, ok
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.factories))
	for t := range r.factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Default is the registry that action packages add themselves to from init.
// Import agent/action/all to get every type.
var Default = NewRegistry()

// Register adds f to Default.
func Register(typ string, f Factory) { Default.Register(typ, f) }

// ErrPermanent marks an error that will not go away by retrying.
var ErrPermanent = errors.New("permanent failure")

// Log is the spec's logger, or one that discards when none was given.
func (s Spec) Log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Warn reports msg through OnWarning; without one it is dropped.
func (s Spec) Warn(msg string) {
	if s.OnWarning != nil {
		s.OnWarning(msg)
	}
}
