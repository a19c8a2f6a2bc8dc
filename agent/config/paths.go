package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The controller reads some files named in cfg.yaml and sends their text
// to runners in their config slices: a route's input-files, an action's
// input-file (exec) or body-file (http) given relative to cfg.yaml, and the
// rego-templates directory. Whoever can edit cfg.yaml, or plant a symlink
// beside it, could otherwise have /etc/shadow or the NATS CA key read as
// root's credential and shipped to a runner. So every such file must
// resolve, symlinks followed, inside the config directory; anything else is
// a config error, reported by check as by a reload.
//
// Absolute input-file and body-file paths are different: on an action that
// runs on a runner they name a file on that runner's host and are never
// read here; on the controller's own actions they are read where they run.
// An absolute input-files entry is shipped when its route has runner
// actions, so it must be inside the config directory then.

// FileKeys are the action keys naming a file relative to cfg.yaml that the
// controller reads and ships with the action.
var FileKeys = []string{"input-file", "body-file"}

func (p *parser) checkPaths(cfg *Config) {
	dir := p.configDir(cfg)
	runsOn := map[string]string{}
	for _, a := range cfg.Actions {
		runsOn[a.Name] = a.RunsOn
	}
	for i, r := range cfg.Routes {
		shipped := r.RunsOn != ""
		for _, a := range r.Actions {
			shipped = shipped || runsOn[a] != ""
		}
		for j, name := range r.InputFiles {
			if filepath.IsAbs(name) && !shipped {
				continue
			}
			key := fmt.Sprintf("routes[%d] %q.input-files", i, r.Name)
			p.checkInside(dir, name, r.InputFileLines[j], key)
		}
	}
	for _, a := range cfg.Actions {
		if a.Node == nil || a.Node.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(a.Node.Content); j += 2 {
			k, v := a.Node.Content[j], a.Node.Content[j+1]
			if !isFileKey(k.Value) || v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" || filepath.IsAbs(strings.TrimSpace(v.Value)) {
				continue
			}
			p.checkInside(dir, strings.TrimSpace(v.Value), v.Line, fmt.Sprintf("actions[%d] %q.%s", a.Index, a.Name, k.Value))
		}
	}
	p.checkTemplateDir(dir)
}

func isFileKey(k string) bool {
	for _, f := range FileKeys {
		if k == f {
			return true
		}
	}
	return false
}

// configDir is cfg's directory made absolute, so that lexical checks
// compare like with like.
func (p *parser) configDir(cfg *Config) string {
	if dir, err := filepath.Abs(cfg.Dir); err == nil {
		return dir
	}
	return filepath.Clean(cfg.Dir)
}

// checkInside reports name (relative to dir, or absolute) when it leaves
// dir by its text ("../") or through a symlink. A file that does not exist
// is left to the action or route that needs it.
func (p *parser) checkInside(dir, name string, line int, key string) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, name)
	}
	if !within(dir, path) {
		p.errf(line, key, "%q is outside the config directory %s: files sent to runners must be inside it", name, dir)
		return
	}
	if real, ok := resolvesOutside(dir, path); ok {
		p.errf(line, key, "%q leads through a symlink to %s, outside the config directory %s: files sent to runners must be inside it", name, real, dir)
	}
}

// resolvesOutside follows the symlinks of path and of dir; it reports
// where path really is when that is not inside dir's real location.
func resolvesOutside(dir, path string) (string, bool) {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false
	}
	return real, !within(realDir, real)
}

// within reports whether path is dir or below it, by their text.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// checkTemplateDir refuses .rego files under rego-templates that lead
// outside the config directory: the engine loads every one of them and the
// controller ships those a runner's templates use. (Both walk the directory
// without following symlinked directories, so only files can lead out.)
func (p *parser) checkTemplateDir(dir string) {
	err := filepath.WalkDir(filepath.Join(dir, "rego-templates"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 || !strings.HasSuffix(path, ".rego") {
			return nil
		}
		if real, out := resolvesOutside(dir, path); out {
			rel, _ := filepath.Rel(dir, path)
			p.errs = append(p.errs, &Error{File: p.file, Key: rel,
				Msg: fmt.Sprintf("leads through a symlink to %s, outside the config directory %s: templates sent to runners must be inside it", real, dir)})
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.errs = append(p.errs, &Error{File: p.file, Key: "rego-templates", Msg: err.Error()})
	}
}
