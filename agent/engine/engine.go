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
	// StateDir is where actions keep what must survive the daemon (exec:
	// the record of a script's run); default: none.
	StateDir string
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

// Engine is a compiled config, safe for concurrent use: its stages (Match,
// Render, Send) keep no state between events. A reload builds a new Engine
// and swaps it in; dedup and aggregation state lives in Plugins, outside.
type Engine struct {
	cfg     *config.Config
	opts    Options
	log     *slog.Logger
	routes  []*Route
	byName  map[string]*Route
	filters *filters
	actions map[string]action.Action // built actions, by name
	types   map[string]string        // action name → type
	onCrash map[string]string        // action name → on-crash policy
	remote  map[string]action.Action // Options.Previews: previewers placed elsewhere
	redact  redactor                 // secret values resolved for the actions
	// warnings: what loaded but will not act (warnings.go)
	warnings config.Errors

	aggMu      sync.Mutex
	aggQueries map[string]*preparedQuery // guarded by aggMu; by aggregation package

	closeOnce sync.Once
}

// New compiles cfg. The error is a config.Errors listing every problem.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Engine, error) {
	opts = withDefaults(cfg, opts)
	e := &Engine{cfg: cfg, opts: opts, log: opts.Logger, byName: map[string]*Route{}, actions: map[string]action.Action{},
		types: map[string]string{}, onCrash: map[string]string{}, remote: map[string]action.Action{}}
	var errs config.Errors
	f, ferrs := compileFilters(ctx, cfg)
	errs = append(errs, ferrs...)
	e.filters = f
	used := map[string]bool{}
	for i, r := range cfg.Routes {
		used[r.Template] = true
		e.routes = append(e.routes, e.route(i, r))
	}
	tmpls, twarns, terrs := compileTemplates(ctx, cfg, opts.TemplatesDir, opts.HTTPClient, used, e.log)
	errs = append(errs, terrs...)
	e.warnings = append(e.warnings, twarns...)
	errs = append(errs, checkRunsOn(cfg)...)
	errs = append(errs, e.buildActions()...)
	if len(errs) > 0 {
		e.Close()
		return nil, errs
	}
	e.sortWarnings()
	for _, r := range e.routes {
		r.tmpl = tmpls[r.Template]
		e.byName[r.Name] = r
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
		e.types[a.Name], e.onCrash[a.Name] = a.Type, a.OnCrash
		report := e.reporter(a, &errs)
		factory, ok := e.opts.Registry.Lookup(a.Type)
		if !ok {
			report(config.Errors{{File: e.cfg.File, Line: a.TypeLine, Key: key + ".type", Msg: fmt.Sprintf("unknown action type %q%s (known: %s)", a.Type, suggest.DidYouMean(a.Type, e.opts.Registry.Types()), strings.Join(e.opts.Registry.Types(), ", "))}})
			continue
		}
		spec := action.Spec{
			Name: a.Name, Type: a.Type, BaseDir: e.cfg.Dir,
			Decode:   a.DecodeResolving(e.cfg.File, e.resolver(!here[a.Name])),
			Logger:   slog.New(e.redact.handler(e.log.Handler())).With("action", a.Name),
			Remote:   !here[a.Name],
			StateDir: e.opts.StateDir,
			OnWarning: func(msg string) {
				if a.Used { // nothing runs an action no route uses
					a.Warnings = append(a.Warnings, &config.Error{File: e.cfg.File, Line: a.Line, Key: key, Msg: msg})
				}
			},
		}
		a.Warnings = nil // filled again by spec.Decode
		act, err := factory(spec)
		e.warnings = append(e.warnings, a.Warnings...)
		if err != nil {
			report(actionError(e.cfg.File, a, key, err))
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

// resolver resolves the references in an action's typed config values
// (config.Secret, SecretURL, URL, Text) and feeds every secret to the
// redactor. An action that runs elsewhere (remote) has its references
// checked, not resolved.
func (e *Engine) resolver(remote bool) *config.Resolver {
	return &config.Resolver{
		LookupEnv:      e.opts.LookupEnv,
		CredentialsDir: e.opts.CredentialsDir,
		Remote:         remote,
		Register:       e.redact.add,
	}
}

// Close releases the actions' resources. Calling it again does nothing.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
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

// Config returns the config the engine was built from.
func (e *Engine) Config() *config.Config { return e.cfg }

// Here reports whether a step runs in this process.
func (e *Engine) Here(s Step) bool { return e.opts.Here(s.RunsOn) }

// Has reports whether the action named name is built in this process.
func (e *Engine) Has(name string) bool {
	_, ok := e.actions[name]
	return ok
}
