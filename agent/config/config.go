// Package config reads a Postee cfg.yaml: routes, templates, actions and
// rules, in Postee's own format and the older spellings its documents use
// (`outputs`, `serialize-outputs`, `runs-on` on a route). Decoding is strict:
// every problem is reported with file, line and key, all of them at once.
package config

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is one loaded cfg.yaml.
type Config struct {
	File string // path as given
	Dir  string // directory of File, for relative paths
	// FiltersDir is where a relative input-file is looked for when it is
	// not beside cfg.yaml: Postee's rego-filters folder (default
	// Dir/rego-filters; the controller's rego-filters setting or Postee's
	// REGO_FILTERS_PATH).
	FiltersDir string

	Name string
	// AquaServer is Postee's aqua-server: the Aqua console's URL, which
	// templates from rego-templates read as input.postee.AquaServer.
	AquaServer string
	Routes     []Route
	Templates  []Template
	Actions    []Action
	Rules      []Rule
	// Warnings are what the parser accepted but will not act on (see
	// warn.go), sorted by line.
	Warnings Errors
}

// Route sends matching events through a template to actions.
type Route struct {
	Name             string
	Line             int
	Input            string // Rego expressions, one per line, ANDed
	InputLine        int    // line where Input's text starts
	InputFiles       []string
	InputFileLines   []int
	Actions          []string
	ActionLines      []int
	Template         string
	TemplateLine     int
	SerializeActions bool
	RunsOn           string // every action of the route runs on this runner
	Plugins          Plugins
	Node             *yaml.Node
}

// Plugins are Postee's per-route message controls.
type Plugins struct {
	AggregateMessageNumber  int      `yaml:"aggregate-message-number"`
	AggregateMessageTimeout Duration `yaml:"aggregate-message-timeout"`
	UniqueMessageProps      []string `yaml:"unique-message-props"`
	UniqueMessageTimeout    Duration `yaml:"unique-message-timeout"`
	PolicyShowAll           bool     `yaml:"policy-show-all"`
	// Older Postee spellings.
	AggregateIssuesNumber  int      `yaml:"aggregate-issues-number"`
	AggregateIssuesTimeout Duration `yaml:"aggregate-issues-timeout"`
}

// Template renders an event into a title and a body.
type Template struct {
	Name               string
	Line               int
	RegoPackage        string
	Body               string
	BodyLine           int
	URL                string
	LegacyScanRenderer string
	Node               *yaml.Node
	// Used is set when a route names the template; problems of an unused
	// template are warnings.
	Used bool
}

// Action is one configured action; its type-specific keys stay in Node and
// are decoded by the action type itself (Decode).
type Action struct {
	Name     string
	Type     string
	Line     int
	TypeLine int
	Enable   bool
	RunsOn   string
	// OnCrash is what happens to this action when the daemon running it
	// dies while it runs: "rerun" (the default) or "skip".
	OnCrash string
	Node    *yaml.Node
	Index   int
	// Used is set when a route names the action; problems of an unused
	// action are warnings.
	Used bool
	// Warnings are the Postee keys Decode accepted without using them.
	Warnings Errors
}

// Decode strictly decodes the action's type-specific keys into v, checking
// the syntax of references in typed values without resolving them. A key
// Postee accepts on any action but this type does not use is a warning
// (kept in a.Warnings), not an error.
func (a *Action) Decode(file string) func(v any) error {
	return a.DecodeResolving(file, nil)
}

// DecodeResolving is Decode that resolves the typed values' references with r.
func (a *Action) DecodeResolving(file string, r *Resolver) func(v any) error {
	where := fmt.Sprintf("actions[%d] %q", a.Index, a.Name)
	return func(v any) error {
		warns, err := decodeStrict(file, where, a.Node, v, actionForeign(a.Type), []string{"name", "type", "enable", "runs-on", "on-crash"}, r)
		a.Warnings = append(a.Warnings, warns...)
		return err
	}
}

// Rule is Postee's named rule list (accepted for compatibility; Postee
// does not route by it either).
type Rule struct {
	Name string `yaml:"name"`
	ID   string `yaml:"id"`
}

// Load reads and validates file. The returned error is an Errors listing
// every problem found.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(file, data)
}

// Parse decodes data as the contents of file.
func Parse(file string, data []byte) (*Config, error) {
	cfg, errs := ParsePartial(file, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// ParsePartial is Parse for checking: with the problems, it returns what
// can still be compiled (nil only when data is not a YAML mapping), so that
// Rego, template and action problems are found in the same pass. Actions
// without a name or type are left out, so they cause no second error.
func ParsePartial(file string, data []byte) (*Config, Errors) {
	p := &parser{file: file}
	cfg := &Config{File: file, Dir: filepath.Dir(file), FiltersDir: filepath.Join(filepath.Dir(file), "rego-filters")}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, Errors{{File: file, Line: yamlErrLine(err), Msg: "not valid YAML: " + stripLine(strings.TrimPrefix(err.Error(), "yaml: "))}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: 1, Msg: "the config must be a YAML mapping with routes, templates and actions"}}
	}
	p.top(cfg, doc.Content[0])
	p.validate(cfg)
	cfg.Warnings = p.warns.Sort(file)
	before := len(p.errs)
	p.checkPaths(cfg)
	if len(p.errs) > before {
		// A file outside the config directory: nothing more is read, so
		// its contents appear in no message.
		return nil, p.errs
	}
	if len(p.errs) == 0 {
		return cfg, nil
	}
	kept := cfg.Actions[:0]
	for _, a := range cfg.Actions {
		if a.Name != "" && a.Type != "" {
			kept = append(kept, a)
		}
	}
	cfg.Actions = kept
	return cfg, p.errs
}

// Sort orders problems by file (file first, then the others by name) and
// line, and drops repeated ones.
func (es Errors) Sort(file string) Errors {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b *Error) int {
		if (a.File == file) != (b.File == file) {
			if a.File == file {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return slices.CompactFunc(out, func(a, b *Error) bool { return *a == *b })
}

type parser struct {
	file  string
	errs  Errors
	warns Errors
}

func (p *parser) warnf(line int, key, format string, args ...any) {
	p.warns = append(p.warns, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errf(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// each calls fn for every key/value of a mapping node, reporting duplicates.
func (p *parser) each(where string, n *yaml.Node, fn func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errf(n.Line, where, "must be a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			p.errf(k.Line, join(where, k.Value), "key given twice")
		}
		seen[k.Value] = true
		fn(k, n.Content[i+1])
	}
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func (p *parser) decode(v *yaml.Node, key string, out any) {
	if err := v.Decode(out); err != nil {
		p.errf(v.Line, key, "%s", cleanYAMLError(err))
	}
}

func (p *parser) top(cfg *Config, n *yaml.Node) {
	var actionsKey string
	p.each("", n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			p.decode(v, "name", &cfg.Name)
		case "aqua-server":
			p.decode(v, k.Value, &cfg.AquaServer)
			if cfg.AquaServer != "" {
				p.warnf(k.Line, k.Value, "used only by templates from rego-templates, as input.postee.AquaServer (Postee's links to the Aqua console); the bundled templates do not link to it")
			}
		case "version", "type":
			// The seed's file descriptors (version: v1, type: controller):
			// accepted silently, they describe the file rather than set
			// anything.
		case "routes":
			p.seq(k.Value, v, func(i int, item *yaml.Node) { cfg.Routes = append(cfg.Routes, p.route(i, item)) })
		case "templates":
			p.seq(k.Value, v, func(i int, item *yaml.Node) { cfg.Templates = append(cfg.Templates, p.template(i, item)) })
		case "actions", "outputs":
			if actionsKey != "" {
				p.errf(k.Line, k.Value, "both %q and %q given: use one (actions)", actionsKey, k.Value)
			}
			actionsKey = k.Value
			p.seq(k.Value, v, func(i int, item *yaml.Node) { cfg.Actions = append(cfg.Actions, p.action(i, item)) })
		case "rules":
			p.seq(k.Value, v, func(i int, item *yaml.Node) {
				var r Rule
				if err := Decoder(p.file, fmt.Sprintf("rules[%d]", i), item)(&r); err != nil {
					p.appendErr(err)
				}
				cfg.Rules = append(cfg.Rules, r)
			})
			if len(cfg.Rules) > 0 {
				p.warnf(k.Line, k.Value, "%s", notUsed("Postee keeps this list for its UI and does not route by it; routes select events with input and input-files"))
			}
		default:
			if why, ok := posteeTopKeys[k.Value]; ok {
				// Postee instance settings: accepted so existing files load
				// unchanged, and named so nobody expects them to work.
				p.warnf(k.Line, k.Value, "%s", notUsed(why))
				return
			}
			p.errf(k.Line, k.Value, "unknown key%s", didYouMean(k.Value, topKeys))
		}
	})
}

var topKeys = map[string]bool{"name": true, "routes": true, "templates": true, "actions": true, "outputs": true, "rules": true, "aqua-server": true, "max-db-size": true, "db-verify-interval": true, "delete-old-data": true}

func (p *parser) seq(key string, n *yaml.Node, fn func(i int, item *yaml.Node)) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n.Line, key, "must be a list")
		return
	}
	for i, item := range n.Content {
		fn(i, item)
	}
}
