package settings

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagsWinOverFileOverDefaults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.toml")
	os.WriteFile(file, []byte("url = \"0.0.0.0:1\"\ntls = \"0.0.0.0:2\"\nbody-limit = 5\n"), 0o644)
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	url := fs.String("url", "default", "")
	tls := fs.String("tls", "default", "")
	limit := fs.Int("body-limit", 1, "")
	other := fs.String("other", "default", "")
	if err := fs.Parse([]string{"--tls=flag"}); err != nil {
		t.Fatal(err)
	}
	if err := Load(fs, file, false); err != nil {
		t.Fatal(err)
	}
	if *url != "0.0.0.0:1" || *tls != "flag" || *limit != 5 || *other != "default" {
		t.Fatalf("url=%s tls=%s limit=%d other=%s", *url, *tls, *limit, *other)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("body-limit", 1, "")
	if err := Load(fs, filepath.Join(dir, "missing.toml"), true); err != nil {
		t.Fatalf("optional missing file: %v", err)
	}
	if err := Load(fs, filepath.Join(dir, "missing.toml"), false); err == nil {
		t.Fatal("missing file accepted")
	}
	for body, want := range map[string]string{
		"\nbody-limt = 3\n":    `x.toml:2: body-limt: unknown setting (did you mean "body-limit"?)`,
		"body-limit = \"a\"\n": `x.toml:1: body-limit: parse error`,
		"body-limit = \n":      `x.toml:1:`,
	} {
		file := filepath.Join(dir, "x.toml")
		os.WriteFile(file, []byte(body), 0o644)
		err := Load(fs, file, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", body, err, want)
		}
	}
}
