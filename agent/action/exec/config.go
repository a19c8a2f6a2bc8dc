package exec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// DefaultTimeout bounds a script when the action sets no timeout. Postee
// had none: a hung script held its worker forever.
const DefaultTimeout = 60 * time.Second

// Config holds the Postee keys of an exec action.
type Config struct {
	// ExecScript is an inline script; a `#!` first line picks the
	// interpreter, otherwise it runs under /bin/sh.
	ExecScript string `yaml:"exec-script"`
	// InputFile is the path of a script, relative to the config file's
	// directory; it must exist when the config is loaded.
	InputFile string `yaml:"input-file"`
	// Env adds "K=V" entries to the script's environment; a V of the form
	// $NAME, ${NAME} or file:PATH is resolved as a secret.
	Env     []config.EnvVar `yaml:"env"`
	Timeout config.Duration `yaml:"timeout"`
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
}

// program is what a validated config runs: the interpreter and its leading
// arguments, plus the script text when it is inline.
type program struct {
	argv   []string // interpreter and arguments; the script path is appended
	inline string   // script text to write to a file, when argv needs one
	shell  bool     // inline script without #!: run as /bin/sh -c inline
}

func (c *Config) program(baseDir string, remote bool) (program, error) {
	script, file := strings.TrimSpace(c.ExecScript), strings.TrimSpace(c.InputFile)
	switch {
	case script != "" && file != "":
		return program{}, errors.New("exec-script and input-file are exclusive")
	case script == "" && file == "":
		return program{}, errors.New("one of exec-script or input-file is required")
	case script != "":
		return inlineProgram(c.ExecScript)
	case remote && filepath.IsAbs(file):
		return program{argv: []string{file}}, nil // it must exist on the runner, not here
	default:
		return fileProgram(file, baseDir)
	}
}

func inlineProgram(script string) (program, error) {
	argv, ok, err := shebang(script)
	if err != nil || !ok {
		return program{shell: true, inline: script}, err
	}
	return program{argv: argv, inline: script}, nil
}

func fileProgram(path, baseDir string) (program, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(baseDir, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return program{}, fmt.Errorf("input-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return program{}, fmt.Errorf("input-file: %s is not a regular file", path)
	}
	head, err := readHead(path)
	if err != nil {
		return program{}, fmt.Errorf("input-file: %w", err)
	}
	argv, ok, err := shebang(head)
	if err != nil {
		return program{}, fmt.Errorf("input-file: %w", err)
	}
	if !ok {
		argv = []string{"/bin/sh"} // as Postee ran every input-file
	}
	return program{argv: append(argv, path)}, nil
}

// env is the env list as "K=V" entries.
func (c *Config) env() []string {
	out := make([]string, 0, len(c.Env))
	for _, e := range c.Env {
		out = append(out, e.String())
	}
	return out
}

// newExec validates the config and builds the action.
func newExec(spec action.Spec, c Config) (*Exec, error) {
	c.setDefaults()
	prog, err := c.program(spec.BaseDir, spec.Remote)
	if err != nil {
		return nil, err
	}
	return &Exec{name: spec.Name, prog: prog, env: c.env(), timeout: c.Timeout.D(), grace: killGrace, log: spec.Log(), stateDir: spec.StateDir}, nil
}
