package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
	"github.com/postee-fleet/posteed/agent/transport"
)

// buildSlice computes what runner needs from cfg: the routes with an action
// placed on it (or on the event's origin), reduced to those actions; their
// templates; and the Rego files those use. Nothing else, so a runner holds
// only its own secrets.
func buildSlice(eng *engine.Engine, runner string, rev int64, epoch string) (*transport.Slice, error) {
	cfg := eng.Config()
	s := &transport.Slice{Runner: runner, Revision: rev, Epoch: epoch, Files: map[string]string{}}
	var routes, templates, actions []*yaml.Node
	usedTemplates, usedActions := map[string]bool{}, map[string]bool{}
	for i, r := range eng.Routes() {
		var mine []string
		for _, st := range r.Steps {
			if st.RunsOn == runner || st.RunsOn == engine.Origin {
				mine = append(mine, st.Action)
			}
		}
		if len(mine) == 0 {
			continue
		}
		node, err := sliceRoute(cfg, i, mine, s.Files)
		if err != nil {
			return nil, err
		}
		routes = append(routes, node)
		usedTemplates[r.Template] = true
		for _, a := range mine {
			usedActions[a] = true
		}
	}
	for _, t := range cfg.Templates {
		if usedTemplates[t.Name] {
			templates = append(templates, t.Node)
			if err := templateFiles(eng, t, s.Files); err != nil {
				return nil, err
			}
		}
	}
	for _, a := range cfg.Actions {
		if usedActions[a.Name] {
			node, err := sliceAction(cfg, a, s.Files)
			if err != nil {
				return nil, err
			}
			actions = append(actions, node)
		}
	}
	doc := mapping("name", scalar(cfg.Name), "routes", seq(routes), "templates", seq(templates), "actions", seq(actions))
	if cfg.AquaServer != "" { // the runner's Postee templates link to it too
		doc.Content = append(doc.Content, scalar("aqua-server"), scalar(cfg.AquaServer))
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode slice for %s: %w", runner, err)
	}
	s.Config = string(out)
	s.Digest = transport.SliceDigest(s)
	return s, nil
}

// sliceRoute copies route i with only the given actions, its input-files
// renamed into the slice.
func sliceRoute(cfg *config.Config, i int, actions []string, files map[string]string) (*yaml.Node, error) {
	r := cfg.Routes[i]
	out := &yaml.Node{Kind: yaml.MappingNode}
	n := r.Node
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		switch k.Value {
		case "actions", "outputs":
			v = seqOf(actions)
			k = scalar("actions")
		case "serialize-outputs":
			k = scalar("serialize-actions")
		case "input-files":
			var names []string
			for f, p := range r.InputFiles {
				path := cfg.InputFile(p)
				src, err := os.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("route %q: %w", r.Name, err)
				}
				name := fmt.Sprintf("inputs/r%d-%d-%s", i, f, filepath.Base(p))
				files[name] = string(src)
				names = append(names, name)
			}
			v = seqOf(names)
		}
		out.Content = append(out.Content, k, v)
	}
	return out, nil
}

// relativeFiles are the files an action names relative to cfg.yaml (exec
// input-file, http body-file).
func relativeFiles(a config.Action) []string {
	var out []string
	for j := 0; j+1 < len(a.Node.Content); j += 2 {
		k, v := a.Node.Content[j], a.Node.Content[j+1]
		if isRelativeFile(k, v) {
			out = append(out, v.Value)
		}
	}
	return out
}

func isRelativeFile(k, v *yaml.Node) bool {
	return (k.Value == "input-file" || k.Value == "body-file") && v.Kind == yaml.ScalarNode && v.Value != "" && !filepath.IsAbs(v.Value)
}

// sliceAction copies an action; a script (exec input-file) or body
// (http body-file) given relative to cfg.yaml travels in the slice, since it
// exists on the controller's host only. Absolute paths name files on the
// runner's host and stay as they are.
func sliceAction(cfg *config.Config, a config.Action, files map[string]string) (*yaml.Node, error) {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: a.Node.Tag}
	for j := 0; j+1 < len(a.Node.Content); j += 2 {
		k, v := a.Node.Content[j], a.Node.Content[j+1]
		if isRelativeFile(k, v) {
			src, err := os.ReadFile(filepath.Join(cfg.Dir, v.Value))
			if err != nil {
				return nil, fmt.Errorf("action %q %s: %w", a.Name, k.Value, err)
			}
			name := fmt.Sprintf("files/a%d-%s", a.Index, filepath.Base(v.Value))
			files[name] = string(src)
			v = scalar(name)
		}
		out.Content = append(out.Content, k, v)
	}
	return out, nil
}

// templateFiles adds the user's Rego files that t reaches, as the engine
// computed them from the compiled modules: the files defining its package
// and every package they refer to, import or name as aggregation package.
func templateFiles(eng *engine.Engine, t config.Template, files map[string]string) error {
	dir := filepath.Join(eng.Config().Dir, "rego-templates")
	for _, path := range eng.TemplateFiles(t.Name) {
		rel, err := filepath.Rel(dir, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("template %q: %s is outside %s", t.Name, path, dir)
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("template %q: %w", t.Name, err)
		}
		files["rego-templates/"+filepath.ToSlash(rel)] = string(src)
	}
	return nil
}

// Runners lists every runner name cfg places an action on.
func runnersOf(eng *engine.Engine) []string {
	var out []string
	for _, r := range eng.Routes() {
		for _, st := range r.Steps {
			if st.RunsOn != "" && st.RunsOn != engine.Origin && !slices.Contains(out, st.RunsOn) {
				out = append(out, st.RunsOn)
			}
		}
	}
	sort.Strings(out)
	return out
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func seq(items []*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func seqOf(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		n.Content = append(n.Content, scalar(s))
	}
	return n
}

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, scalar(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}
