package engine

import (
	"path/filepath"
	"strings"
)

// Source is a module of the user's Rego with the text the engine compiled.
// A runner's config slice ships this text, not the file as it is on disk
// now (the operator may have edited it since) nor a url fetched again, so
// the runner compiles what the controller runs.
type Source struct {
	// Module is the module's name when compiled: a file's path, a
	// template's url, or <cfg.yaml>#templates[i].body.
	Module string
	// Rel is a rego-templates file's path in that directory, with slashes;
	// "" for the other modules.
	Rel  string
	Text string
}

// templateSources splits the modules a template reaches (reachableModules)
// into its own body or url module (named own; "" for none) and the
// others, with the text each was compiled from.
func templateSources(modules []string, own string, texts map[string]string, dir string) (Source, []Source) {
	var mine Source
	var reached []Source
	for _, name := range modules {
		s := Source{Module: name, Text: texts[name]}
		if prefix := filepath.Clean(dir) + string(filepath.Separator); dir != "" && strings.HasPrefix(name, prefix) {
			s.Rel = filepath.ToSlash(strings.TrimPrefix(name, prefix))
		}
		if name == own {
			mine = s
		} else {
			reached = append(reached, s)
		}
	}
	return mine, reached
}

// TemplateSources returns what the template named name was compiled from:
// own, its body or url module (Module "" when its package comes from
// rego-templates or is bundled), and reached, every other module of the
// user's it reaches, sorted by Module. ok is false for a template no route
// here uses.
func (e *Engine) TemplateSources(name string) (own Source, reached []Source, ok bool) {
	for _, r := range e.routes {
		if r.Template == name && r.tmpl != nil {
			return r.tmpl.own, r.tmpl.reached, true
		}
	}
	return Source{}, nil, false
}

// TemplateFiles lists the paths of the rego-templates files the template
// named name reaches (see TemplateSources); nil for a template not in use
// here.
func (e *Engine) TemplateFiles(name string) []string {
	_, reached, _ := e.TemplateSources(name)
	var out []string
	for _, s := range reached {
		if s.Rel != "" {
			out = append(out, s.Module)
		}
	}
	return out
}

// InputSources returns route i's input-files as compiled, in the route's
// order; nil for a route without.
func (e *Engine) InputSources(i int) []Source {
	if e.filters == nil {
		return nil
	}
	return e.filters.inputs[i]
}
