// Package engine is what both daemons run: it compiles a Postee config
// (route filters, templates, actions) once, and for each event matches
// routes, renders their templates and runs the actions placed in this
// process. Nothing is compiled or read from disk per event.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/suggest"
	"github.com/postee-fleet/posteed/agent/transport"
)

// Origin in runs-on places an action on the runner of the host the event
// came from (the runner that reported it, or the runner whose host matches
// Tracee's hostName).
const Origin = "@origin"

// Options are an engine's dependencies.
type Options struct {
	Registry *action.Registry
	Logger   *slog.Logger
	// Here reports whether an action placed on runsOn ("" is the controller)
	// runs in this process. Only those actions are built.
	Here func(runsOn string) bool
	// TemplatesDir holds the user's Rego templates; default: rego-templates
	// beside the config file.
	TemplatesDir string
	// LookupEnv resolves $NAME secrets; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// CredentialsDir resolves file: secrets; default $CREDENTIALS_DIRECTORY.
	CredentialsDir string
	// HTTPClient fetches template urls at load.
	HTTPClient *http.Client
	Retry      RetryPolicy
	// OnFlush receives a route's aggregated message when its timeout
	// passes or the engine closes (aggregate-message-timeout); the daemon
	// runs or dispatches its steps. Default: run the local steps here.
	OnFlush func(context.Context, *Engine, Match)
	// Observer hears every action attempt's outcome (metrics); optional.
	Observer Observer
	// Previews keeps the actions placed elsewhere that implement
	// action.Previewer, for Preview (dry runs); they never run here.
	Previews bool
}

// RetryPolicy is the one retry stage for actions run in this process.
type RetryPolicy struct {
	Attempts int           // total tries; default 3
	Base     time.Duration // first backoff, doubled each time; default 1s
}

// Step is one action of a route, placed on a runner ("" is the controller).
type Step struct {
	Action string
	RunsOn string
}

// Route is a compiled route.
type Route struct {
	Name      string
	Template  string
	Serialize bool
	Steps     []Step
	Plugins   config.Plugins
	index     int
	tmpl      *template
}

// Engine is a compiled config; it is immutable and safe for concurrent use.
// A reload builds a new Engine and swaps it in.
type Engine struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	routes  []*Route
	byName  map[string]*Route
	filters *filters
	actions map[string]action.Action // built actions, by name
	remote  map[string]action.Action // Options.Previews: previewers placed elsewhere
	dedup   *dedup
	agg     *aggregator // nil when no route aggregates
	redact  redactor    // secret values resolved for the actions

	closeOnce sync.Once
}

// New compiles cfg. The error is a config.Errors listing every problem.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Engine, error) {
	opts = withDefaults(cfg, opts)
	e := &Engine{cfg: cfg, opts: opts, log: opts.Logger, byName: map[string]*Route{}, actions: map[string]action.Action{}, remote: map[string]action.Action{}, dedup: newDedup()}
	if e.opts.OnFlush == nil {
		e.opts.OnFlush = runLocal
	}
	var errs config.Errors
	f, ferrs := compileFilters(ctx, cfg)
	errs = append(errs, ferrs...)
	e.filters = f
	used := map[string]bool{}
	for i, r := range cfg.Routes {
		used[r.Template] = true
		e.routes = append(e.routes, e.route(i, r))
	}
	tmpls, terrs := compileTemplates(ctx, cfg, opts.TemplatesDir, opts.HTTPClient, used)
	errs = append(errs, terrs...)
	errs = append(errs, checkRunsOn(cfg)...)
	errs = append(errs, e.buildActions()...)
	if len(errs) > 0 {
		e.Close()
		return nil, errs
	}
	for _, r := range e.routes {
		r.tmpl = tmpls[r.Template]
		e.byName[r.Name] = r
		if r.aggregates() && e.agg == nil {
			e.agg = newAggregator(e)
		}
	}
	return e, nil
}

func withDefaults(cfg *config.Config, o Options) Options {
	if o.Registry == nil {
		o.Registry = action.Default
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Here == nil {
		o.Here = func(runsOn string) bool { return runsOn == "" }
	}
	if o.TemplatesDir == "" {
		o.TemplatesDir = filepath.Join(cfg.Dir, "rego-templates")
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.CredentialsDir == "" {
		o.CredentialsDir = os.Getenv("CREDENTIALS_DIRECTORY")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 3
	}
	if o.Retry.Base <= 0 {
		o.Retry.Base = time.Second
	}
	return o
}

func runLocal(ctx context.Context, e *Engine, m Match) {
	if steps := e.LocalSteps(m.Route); len(steps) > 0 {
		_ = e.Run(ctx, m, steps)
	}
}

func (e *Engine) route(i int, r config.Route) *Route {
	out := &Route{Name: r.Name, Template: r.Template, Serialize: r.SerializeActions, Plugins: r.Plugins, index: i}
	for _, name := range r.Actions {
		a, ok := e.cfg.Action(name)
		if !ok || !a.Enable {
			continue // undefined is a load error; disabled actions are skipped as Postee does
		}
		runsOn := a.RunsOn // an action's own runs-on is more specific than its route's
		if runsOn == "" {
			runsOn = r.RunsOn
		}
		out.Steps = append(out.Steps, Step{Action: name, RunsOn: runsOn})
	}
	return out
}

// checkRunsOn refuses runs-on values no runner can have: a runner's name is
// its certificate's CN and a NATS subject token, so work for "node-1.example"
// could never be delivered.
func checkRunsOn(cfg *config.Config) config.Errors {
	var errs config.Errors
	check := func(line int, key, runsOn string) {
		if runsOn == "" || runsOn == Origin {
			return
		}
		if err := transport.ValidName(runsOn); err != nil {
			errs = append(errs, &config.Error{File: cfg.File, Line: line, Key: key + ".runs-on", Msg: err.Error() + ` (or "@origin" for the runner on the event's host)`})
		}
	}
	for i, r := range cfg.Routes {
		check(r.Line, fmt.Sprintf("routes[%d] %q", i, r.Name), r.RunsOn)
	}
	for _, a := range cfg.Actions {
		check(a.Line, fmt.Sprintf("actions[%d] %q", a.Index, a.Name), a.RunsOn)
	}
	return errs
}

// buildActions constructs every enabled action. Those placed elsewhere are
// built too, to validate them, but with secrets left unresolved, and thrown
// away.
func (e *Engine) buildActions() config.Errors {
	here := map[string]bool{}
	for _, r := range e.routes {
		for _, s := range r.Steps {
			if e.opts.Here(s.RunsOn) {
				here[s.Action] = true
			}
		}
	}
	var errs config.Errors
	for i := range e.cfg.Actions {
		a := &e.cfg.Actions[i]
		if !a.Enable {
			continue
		}
		key := fmt.Sprintf("actions[%d] %q", a.Index, a.Name)
		factory, ok := e.opts.Registry.Lookup(a.Type)
		if !ok {
			errs = append(errs, &config.Error{File: e.cfg.File, Line: a.TypeLine, Key: key + ".type", Msg: fmt.Sprintf("unknown action type %q%s (known: %s)", a.Type, suggest.DidYouMean(a.Type, e.opts.Registry.Types()), strings.Join(e.opts.Registry.Types(), ", "))})
			continue
		}
		spec := action.Spec{
			Name: a.Name, Type: a.Type, Decode: a.Decode(e.cfg.File), BaseDir: e.cfg.Dir,
			Logger: e.log.With("action", a.Name),
			Secret: e.secrets(key, here[a.Name]),
			Remote: !here[a.Name],
		}
		act, err := factory(spec)
		if err != nil {
			errs = append(errs, actionError(e.cfg.File, a, key, err)...)
			continue
		}
		_, previews := act.(action.Previewer)
		if here[a.Name] {
			e.actions[a.Name] = act
		} else if previews && e.opts.Previews {
			e.remote[a.Name] = act
		} else if c, ok := act.(action.Closer); ok {
			_ = c.Close()
		}
	}
	return errs
}

func actionError(file string, a *config.Action, key string, err error) config.Errors {
	var out config.Errors
	var ce *config.Error
	switch {
	case errors.As(err, &out):
	case errors.As(err, &ce):
		out = config.Errors{ce}
	default:
		return config.Errors{{File: file, Line: a.Line, Key: key, Msg: err.Error()}}
	}
	for _, e := range out {
		if e.Line == 0 && e.File == file { // e.g. an unresolvable secret: the action's line
			e.Line = a.Line
		}
	}
	return out
}

// secrets resolves "$NAME" from the environment and "file:PATH" from a file
// (relative to $CREDENTIALS_DIRECTORY). When strict is false (the action runs
// elsewhere) unresolvable secrets are not errors.
func (e *Engine) secrets(key string, strict bool) func(field, value string) (string, error) {
	return func(field, value string) (string, error) {
		switch {
		case strings.HasPrefix(value, "$") && len(value) > 1:
			name := strings.Trim(value[1:], "{}")
			v, ok := e.opts.LookupEnv(name)
			if !ok && strict {
				return "", &config.Error{File: e.cfg.File, Key: key + "." + field, Msg: fmt.Sprintf("environment variable %s is not set", name)}
			}
			e.redact.add(v)
			return v, nil
		case strings.HasPrefix(value, "file:"):
			path := strings.TrimPrefix(value, "file:")
			if !filepath.IsAbs(path) && e.opts.CredentialsDir != "" {
				path = filepath.Join(e.opts.CredentialsDir, path)
			}
			b, err := os.ReadFile(path)
			if err != nil && strict {
				return "", &config.Error{File: e.cfg.File, Key: key + "." + field, Msg: fmt.Sprintf("cannot read secret file: %v", err)}
			}
			e.redact.add(string(b))
			return strings.TrimSpace(string(b)), nil
		}
		e.redact.add(value) // a secret written in the config itself
		return value, nil
	}
}

// Close sends the messages held for aggregation and releases the actions'
// resources. Calling it again does nothing.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		if e.agg != nil {
			e.agg.close()
		}
		for _, a := range e.actions {
			if c, ok := a.(action.Closer); ok {
				_ = c.Close()
			}
		}
		for _, a := range e.remote {
			if c, ok := a.(action.Closer); ok {
				_ = c.Close()
			}
		}
	})
}

// Routes returns the compiled routes in config order.
func (e *Engine) Routes() []*Route { return e.routes }

// Route returns the route named name.
func (e *Engine) Route(name string) (*Route, bool) {
	r, ok := e.byName[name]
	return r, ok
}

// Config returns the config the engine was built from.
func (e *Engine) Config() *config.Config { return e.cfg }

// Here reports whether a step runs in this process.
func (e *Engine) Here(s Step) bool { return e.opts.Here(s.RunsOn) }

// Has reports whether the action named name is built in this process.
func (e *Engine) Has(name string) bool {
	_, ok := e.actions[name]
	return ok
}
