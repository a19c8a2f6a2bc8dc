// Package config reads a Postee cfg.yaml: routes, templates, actions and
// rules, in Postee's own format and the older spellings its documents use
// (`outputs`, `serialize-outputs`, `runs-on` on a route). Decoding is strict:
// every problem is reported with file, line and key, all of them at once.
package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is one loaded cfg.yaml.
type Config struct {
	File string // path as given
	Dir  string // directory of File, for relative paths

	Name      string
	Routes    []Route
	Templates []Template
	Actions   []Action
	Rules     []Rule
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
	Node     *yaml.Node
	Index    int
}

// Decode strictly decodes the action's type-specific keys into v.
func (a *Action) Decode(file string) func(v any) error {
	return Decoder(file, fmt.Sprintf("actions[%d] %q", a.Index, a.Name), a.Node, "name", "type", "enable", "runs-on")
}

// Rule is Postee's named rule list (kept for compatibility, unused by routing).
type Rule struct {
	Name string `yaml:"name"`
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
	p := &parser{file: file}
	cfg := &Config{File: file, Dir: filepath.Dir(file)}
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
	p.checkPaths(cfg)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return cfg, nil
}

type parser struct {
	file string
	errs Errors
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
		case "version", "type", "aqua-server", "max-db-size", "db-verify-interval", "delete-old-data", "deleteold", "dbverifyinterval":
			// Postee instance settings with no meaning here; accepted so
			// existing files load unchanged.
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
					p.errs = append(p.errs, err.(Errors)...)
				}
				cfg.Rules = append(cfg.Rules, r)
			})
		default:
			p.errf(k.Line, k.Value, "unknown key%s", suggest(k.Value, topKeys))
		}
	})
}

var topKeys = map[string]bool{"name": true, "routes": true, "templates": true, "actions": true, "outputs": true, "rules": true, "aqua-server": true, "max-db-size": true, "db-verify-interval": true}

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
