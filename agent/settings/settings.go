// Package settings loads a daemon's TOML settings file and lays command-line
// flags over it: a flag given on the command line wins over the file, the
// file wins over the default. Keys are the flag names, so
// `--controller-url` and `controller-url = "..."` are the same setting.
package settings

import (
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/suggest"
)

// Load reads file (a missing file is not an error when optional) into the
// flags of fs that the command line did not set. Unknown keys and bad
// values are errors naming the file, line and key, all of them at once: a
// config.Errors.
// Tables names the TOML tables the caller decodes itself.
func Load(fs *flag.FlagSet, file string, optional bool, tables ...string) error {
	var raw map[string]any
	md, err := toml.DecodeFile(file, &raw)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return config.Errors{{File: file, Line: perr.Position.Line, Msg: perr.Message}}
		}
		var pathErr *iofs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return config.Errors{{File: file, Msg: "cannot read settings: " + err.Error()}}
	}
	data, _ := os.ReadFile(file)
	text := string(data)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs config.Errors
	for _, key := range md.Keys() {
		name := key[0]
		if len(key) != 1 || slices.Contains(tables, name) {
			continue // tables are decoded by the caller
		}
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			errs = append(errs, &config.Error{File: file, Line: lineOf(text, name), Key: name, Msg: "unknown setting" + didYouMean(fs, name)})
			continue
		}
		if set[name] {
			continue
		}
		if err := f.Value.Set(toString(raw[name])); err != nil {
			errs = append(errs, &config.Error{File: file, Line: lineOf(text, name), Key: name, Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func toString(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	case map[string]any: // an inline table: name = value pairs, sorted
		parts := make([]string, 0, len(x))
		for k, p := range x {
			parts = append(parts, k+"="+fmt.Sprint(p))
		}
		slices.Sort(parts)
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

func didYouMean(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	return suggest.DidYouMean(name, names)
}

// lineOf finds the line that sets key (the TOML decoder keeps no positions).
func lineOf(text, key string) int {
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, key); ok && strings.HasPrefix(strings.TrimSpace(rest), "=") {
			return i + 1
		}
	}
	return 0
}
