package controller

import (
	"crypto/sha256"
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
// templates; and the Rego those use, as the engine compiled it (never read
// again from disk nor fetched again from a url, so the runner compiles what
// the controller runs). Nothing else, so a runner holds only its own
// secrets.
func buildSlice(eng *engine.Engine, runner string, rev int64, epoch string) (*transport.Slice, error) {
	cfg := eng.Config()
	s := &transport.Slice{Runner: runner, Revision: rev, Epoch: epoch, Files: map[string]string{}}
	var routes, actions []*yaml.Node
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
		node, err := sliceRoute(eng, i, mine, s.Files)
		if err != nil {
			return nil, err
		}
		routes = append(routes, node)
		usedTemplates[r.Template] = true
		for _, a := range mine {
			usedActions[a] = true
		}
	}
	templates, err := sliceTemplates(eng, usedTemplates, s.Files)
	if err != nil {
		return nil, err
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
// renamed into the slice, with the text the engine compiled.
func sliceRoute(eng *engine.Engine, i int, actions []string, files map[string]string) (*yaml.Node, error) {
	r := eng.Config().Routes[i]
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
			srcs := eng.InputSources(i)
			if len(srcs) != len(r.InputFiles) {
				return nil, fmt.Errorf("route %q: %d input-files, %d compiled", r.Name, len(r.InputFiles), len(srcs))
			}
			var names []string
			for f, p := range r.InputFiles {
				name := fmt.Sprintf("inputs/r%d-%d-%s", i, f, filepath.Base(p))
				files[name] = srcs[f].Text
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
// runner's host and stay as they are. These are read from disk here: the
// engine keeps no copy (the controller runs a script from its file).
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

// sliceTemplates copies the templates named in used, in cfg order, with
// the Rego the engine compiled for each: a body or url template becomes a
// body holding the text compiled (with its package line, so the runner
// neither fetches the url nor numbers the package differently), and every
// other module of the user's a template reaches travels as a file of
// rego-templates.
func sliceTemplates(eng *engine.Engine, used map[string]bool, files map[string]string) ([]*yaml.Node, error) {
	var nodes []*yaml.Node
	var reached []engine.Source
	owns := map[string]bool{} // the kept templates' body and url modules
	for _, t := range eng.Config().Templates {
		if !used[t.Name] {
			continue
		}
		own, r, ok := eng.TemplateSources(t.Name)
		if !ok {
			return nil, fmt.Errorf("template %q was not compiled", t.Name)
		}
		node := t.Node
		if own.Module != "" {
			node = mapping("name", scalar(t.Name), "body", literal(own.Text))
			owns[own.Module] = true
		}
		nodes = append(nodes, node)
		reached = append(reached, r...)
	}
	for _, src := range reached {
		switch {
		case src.Rel != "":
			files["rego-templates/"+src.Rel] = src.Text
		case !owns[src.Module]: // the body or url of a template not kept
			files[fmt.Sprintf("rego-templates/posteed-slice/%x.rego", sha256.Sum256([]byte(src.Module)))] = src.Text
		}
	}
	return nodes, nil
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

// literal is a block scalar, so Rego stays readable in the slice's
// cfg.yaml; the encoder quotes what a block cannot hold exactly. Text
// starting with a space or a line break would need an indentation
// indicator, which the encoder gets wrong inside a sequence: it is quoted.
func literal(s string) *yaml.Node {
	n := scalar(s)
	n.Style = yaml.LiteralStyle
	if strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\n") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

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
