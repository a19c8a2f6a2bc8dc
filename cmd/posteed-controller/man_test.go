package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/controller"
)

// documented reports whether a man page names word in bold at the start of
// a line (.B word, .BR word ..., or in a .BR list).
func documented(page, word string) bool {
	return regexp.MustCompile(`(?m)^\.BR? (.*[ "])?` + regexp.QuoteMeta(word) + `([ "]|$)`).MatchString(page)
}

func readPage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "man", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestManPagesComplete: the man 5 pages name every setting of both daemons
// and every action type.
func TestManPagesComplete(t *testing.T) {
	t.Parallel()
	for page, register := range map[string]func(*flag.FlagSet){
		"posteed-controller.toml.5": func(fs *flag.FlagSet) { controller.Flags(fs) },
		"postee-runner.toml.5":      func(fs *flag.FlagSet) { runner.Flags(fs) },
	} {
		text := readPage(t, page)
		fs := flag.NewFlagSet(page, flag.ContinueOnError)
		register(fs)
		n := 0
		fs.VisitAll(func(f *flag.Flag) {
			n++
			if f.Name != "config" && !documented(text, f.Name) {
				t.Errorf("%s does not document %s", page, f.Name)
			}
		})
		if n < 10 {
			t.Fatalf("%s: only %d settings", page, n)
		}
	}
	if !documented(readPage(t, "postee-runner.toml.5"), "tracee-files") {
		t.Error("postee-runner.toml.5 does not document tracee-files")
	}
	cfg := readPage(t, "posteed-cfg.yaml.5")
	for _, typ := range action.Default.Types() {
		if !documented(cfg, typ) {
			t.Errorf("posteed-cfg.yaml.5 does not document action type %s", typ)
		}
	}
}
