package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (p *parser) str(v *yaml.Node, key string) string {
	var s string
	p.decode(v, key, &s)
	return s
}

// strList accepts a list of strings or, as Postee did, one string.
func (p *parser) strList(v *yaml.Node, key string) ([]string, []int) {
	if v.Kind == yaml.ScalarNode {
		if v.Tag == "!!null" {
			return nil, nil
		}
		return []string{v.Value}, []int{v.Line}
	}
	if v.Kind != yaml.SequenceNode {
		p.errf(v.Line, key, "must be a list of names")
		return nil, nil
	}
	var out []string
	var lines []int
	for _, item := range v.Content {
		out = append(out, p.str(item, key))
		lines = append(lines, item.Line)
	}
	return out, lines
}

// textLine is the line where a scalar's text begins: block scalars (| and >)
// start on the next line.
func textLine(v *yaml.Node) int {
	if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return v.Line + 1
	}
	return v.Line
}

func (p *parser) route(i int, n *yaml.Node) Route {
	r := Route{Line: n.Line, Node: n}
	where := fmt.Sprintf("routes[%d]", i)
	var actionsKey, serialKey string
	p.each(where, n, func(k, v *yaml.Node) {
		key := join(where, k.Value)
		switch k.Value {
		case "name":
			r.Name = p.str(v, key)
		case "input":
			r.Input, r.InputLine = p.str(v, key), textLine(v)
		case "input-files":
			r.InputFiles, r.InputFileLines = p.strList(v, key)
		case "actions", "outputs":
			if actionsKey != "" {
				p.errf(k.Line, key, "both %q and %q given: use one (actions)", actionsKey, k.Value)
			}
			actionsKey = k.Value
			r.Actions, r.ActionLines = p.strList(v, key)
		case "template":
			r.Template, r.TemplateLine = p.str(v, key), v.Line
		case "serialize-actions", "serialize-outputs":
			if serialKey != "" {
				p.errf(k.Line, key, "both %q and %q given: use one (serialize-actions)", serialKey, k.Value)
			}
			serialKey = k.Value
			p.decode(v, key, &r.SerializeActions)
		case "runs-on":
			r.RunsOn = p.str(v, key)
		case "plugins":
			warns, err := decodeStrict(p.file, key, v, &r.Plugins, posteePluginKeys, nil, nil)
			p.warns = append(p.warns, warns...)
			if err != nil {
				p.appendErr(err)
			}
		default:
			p.errf(k.Line, key, "unknown key%s", didYouMean(k.Value, routeKeys))
		}
	})
	if r.Name == "" {
		p.errf(n.Line, where+".name", "a route needs a name")
	}
	return r
}

var routeKeys = map[string]bool{"name": true, "input": true, "input-files": true, "actions": true, "template": true, "serialize-actions": true, "runs-on": true, "plugins": true}

func (p *parser) appendErr(err error) {
	var es Errors
	if errors.As(err, &es) {
		p.errs = append(p.errs, es...)
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Msg: err.Error()})
}

func (p *parser) template(i int, n *yaml.Node) Template {
	t := Template{Line: n.Line, Node: n}
	where := fmt.Sprintf("templates[%d]", i)
	p.each(where, n, func(k, v *yaml.Node) {
		key := join(where, k.Value)
		switch k.Value {
		case "name":
			t.Name = p.str(v, key)
		case "rego-package":
			t.RegoPackage = p.str(v, key)
		case "body":
			t.Body, t.BodyLine = p.str(v, key), textLine(v)
		case "url":
			t.URL = p.str(v, key)
		case "legacy-scan-renderer":
			t.LegacyScanRenderer = p.str(v, key)
		default:
			p.errf(k.Line, key, "unknown key%s", didYouMean(k.Value, templateKeys))
		}
	})
	if t.Name == "" {
		p.errf(n.Line, where+".name", "a template needs a name")
	}
	return t
}

// sources counts the ways a template is given; exactly one is right.
func (t *Template) sources() int {
	set := 0
	for _, s := range []string{t.RegoPackage, t.Body, t.URL, t.LegacyScanRenderer} {
		if s != "" {
			set++
		}
	}
	return set
}

var templateKeys = map[string]bool{"name": true, "rego-package": true, "body": true, "url": true, "legacy-scan-renderer": true}

func (p *parser) action(i int, n *yaml.Node) Action {
	a := Action{Line: n.Line, Node: n, Index: i}
	where := fmt.Sprintf("actions[%d]", i)
	if n.Kind != yaml.MappingNode {
		p.errf(n.Line, where, "must be a mapping")
		return a
	}
	p.each(where, n, func(k, v *yaml.Node) {
		key := join(where, k.Value)
		switch k.Value {
		case "name":
			a.Name = p.str(v, key)
		case "type":
			a.Type, a.TypeLine = strings.ToLower(p.str(v, key)), v.Line
		case "enable":
			p.decode(v, key, &a.Enable)
		case "runs-on":
			a.RunsOn = p.str(v, key)
		case "on-crash":
			a.OnCrash = p.str(v, key)
			if a.OnCrash != "rerun" && a.OnCrash != "skip" {
				p.errf(v.Line, key, "%q: use rerun (an action interrupted by a crash runs again) or skip (it never runs twice)", a.OnCrash)
			}
		}
	})
	if a.OnCrash == "" {
		a.OnCrash = "rerun"
	}
	if a.Name == "" {
		p.errf(n.Line, where+".name", "an action needs a name")
	}
	if a.Type == "" {
		p.errf(n.Line, where+".type", "action %q needs a type", a.Name)
	}
	return a
}

// validate checks names and cross-references, and marks the templates and
// actions routes use: an incomplete one that nothing uses is a warning, as
// Postee loads it (its own default cfg.yaml has an empty url: template).
func (p *parser) validate(cfg *Config) {
	p.markUsed(cfg)
	for i := range cfg.Templates {
		t := &cfg.Templates[i]
		if t.sources() == 1 {
			continue
		}
		key, msg := fmt.Sprintf("templates[%d] %q", i, t.Name), "give exactly one of rego-package, body, url or legacy-scan-renderer"
		if t.Used {
			p.errf(t.Line, key, "%s", msg)
		} else {
			p.warnf(t.Line, key, "%s%s", msg, unusedSuffix("template"))
		}
	}
	actions := map[string]bool{}
	for _, a := range cfg.Actions {
		if a.Name != "" && actions[a.Name] {
			p.errf(a.Line, fmt.Sprintf("actions %q", a.Name), "action name used twice")
		}
		actions[a.Name] = true
	}
	templates := map[string]bool{}
	for _, t := range cfg.Templates {
		if t.Name != "" && templates[t.Name] {
			p.errf(t.Line, fmt.Sprintf("templates %q", t.Name), "template name used twice")
		}
		templates[t.Name] = true
	}
	routes := map[string]bool{}
	for _, r := range cfg.Routes {
		where := fmt.Sprintf("routes %q", r.Name)
		if r.Name != "" && routes[r.Name] {
			p.errf(r.Line, where, "route name used twice")
		}
		routes[r.Name] = true
		for j, name := range r.Actions {
			if !actions[name] {
				p.errf(r.ActionLines[j], where+".actions", "undefined action %q (defined: %s)", name, names(cfg.ActionNames()))
			}
		}
		switch {
		case r.Template == "":
			p.errf(r.Line, where+".template", "a route needs a template")
		case !templates[r.Template]:
			p.errf(r.TemplateLine, where+".template", "undefined template %q (defined: %s)", r.Template, names(cfg.TemplateNames()))
		}
	}
}

func (p *parser) markUsed(cfg *Config) {
	for _, r := range cfg.Routes {
		for i := range cfg.Templates {
			if cfg.Templates[i].Name == r.Template {
				cfg.Templates[i].Used = true
			}
		}
		for _, name := range r.Actions {
			for i := range cfg.Actions {
				if cfg.Actions[i].Name == name {
					cfg.Actions[i].Used = true
				}
			}
		}
	}
}

func names(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// InputFile is the path of a route's input-file p: as given when absolute;
// beside cfg.yaml when it is there; else in FiltersDir, where Postee looked
// (its rego-filters folder). Postee took a name that already starts with
// that folder as it is, so that one is not joined twice.
func (c *Config) InputFile(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	beside := filepath.Join(c.Dir, p)
	if _, err := os.Stat(beside); err == nil || c.FiltersDir == "" {
		return beside
	}
	if strings.HasPrefix(filepath.Clean(p), filepath.Clean(c.FiltersDir)+string(filepath.Separator)) {
		return p
	}
	return filepath.Join(c.FiltersDir, p)
}

// ActionNames lists the configured action names in order.
func (c *Config) ActionNames() []string {
	out := make([]string, 0, len(c.Actions))
	for _, a := range c.Actions {
		out = append(out, a.Name)
	}
	return out
}

// TemplateNames lists the configured template names in order.
func (c *Config) TemplateNames() []string {
	out := make([]string, 0, len(c.Templates))
	for _, t := range c.Templates {
		out = append(out, t.Name)
	}
	return out
}

// Action returns the action named name.
func (c *Config) Action(name string) (*Action, bool) {
	for i := range c.Actions {
		if c.Actions[i].Name == name {
			return &c.Actions[i], true
		}
	}
	return nil, false
}

// yamlErrLine pulls "line N" out of a yaml syntax error.
func yamlErrLine(err error) int {
	var line int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		fmt.Sscanf(s[i+5:], "%d", &line)
	}
	return line
}
