package settings

import (
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
)

// EnvVar is an environment variable that sets a flag: Postee's POSTEE_CFG
// sets cfgfile, for one. Value turns the variable's text into the flag's
// (nil: as it is).
type EnvVar struct {
	Name  string
	Flag  string
	Value func(string) (string, error)
}

// Applied is one setting taken from the environment.
type Applied struct {
	Var, Flag, Value string
}

// ApplyEnv sets every flag the command line did not set from the first of
// its variables (in vars order) that is set and not empty, as Postee reads
// them. A flag set this way counts as set, so Load leaves it alone: a flag
// wins over the environment, the environment over the settings file.
func ApplyEnv(fs *flag.FlagSet, vars []EnvVar, lookup func(string) (string, bool)) ([]Applied, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var out []Applied
	for _, v := range vars {
		if set[v.Flag] {
			continue
		}
		text, ok := lookup(v.Name)
		if !ok || text == "" {
			continue
		}
		value := text
		if v.Value != nil {
			var err error
			if value, err = v.Value(text); err != nil {
				return nil, fmt.Errorf("environment %s: %w", v.Name, err)
			}
		}
		if err := fs.Set(v.Flag, value); err != nil {
			return nil, fmt.Errorf("environment %s: %s: %w", v.Name, v.Flag, err)
		}
		set[v.Flag] = true
		out = append(out, Applied{Var: v.Name, Flag: v.Flag, Value: value})
	}
	return out, nil
}

// Debug is the log level a set POSTEE_DEBUG means, whatever its value.
func Debug(string) (string, error) { return "debug", nil }

// DirOf is the directory of a file path: Postee's PATH_TO_DB names its
// database file, whose directory holds posteed's state instead.
func DirOf(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%q: want an absolute path", path)
	}
	return filepath.Dir(path), nil
}

// LogEnv says which settings came from the environment, once at start.
func LogEnv(log *slog.Logger, applied []Applied) {
	for _, a := range applied {
		log.Info("setting from the environment", "variable", a.Var, "setting", a.Flag, "value", a.Value)
	}
}
