package settings

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrecedence: a flag wins over the environment, the environment over
// the settings file, the file over the default; of two variables for one
// setting the first listed wins; empty variables do not count.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(file, []byte("url = \"file:1\"\ntls = \"file:2\"\ncfgfile = \"file.yaml\"\nstate-dir = \"/file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := []EnvVar{
		{Name: "NEW_URL", Flag: "url"}, {Name: "OLD_URL", Flag: "url"},
		{Name: "NEW_TLS", Flag: "tls"}, {Name: "OLD_TLS", Flag: "tls"},
		{Name: "CFG", Flag: "cfgfile"},
		{Name: "DEBUG", Flag: "log-level", Value: Debug},
		{Name: "DB", Flag: "state-dir", Value: DirOf},
	}
	env := map[string]string{"NEW_URL": "env:1", "OLD_URL": "old:1", "NEW_TLS": "", "OLD_TLS": "old:2", "CFG": "env.yaml", "DEBUG": "1", "DB": "/var/db/webhooks.db"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	url, tls := fs.String("url", "default", ""), fs.String("tls", "default", "")
	cfg, level := fs.String("cfgfile", "default", ""), fs.String("log-level", "info", "")
	state, other := fs.String("state-dir", "default", ""), fs.String("other", "default", "")
	if err := fs.Parse([]string{"--cfgfile=flag.yaml"}); err != nil {
		t.Fatal(err)
	}
	applied, err := ApplyEnv(fs, vars, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if err := Load(fs, file, false); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"url": *url, "tls": *tls, "cfgfile": *cfg, "log-level": *level, "state-dir": *state, "other": *other}
	want := map[string]string{"url": "env:1", "tls": "old:2", "cfgfile": "flag.yaml", "log-level": "debug", "state-dir": "/var/db", "other": "default"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	var names []string
	for _, a := range applied {
		names = append(names, a.Var+"→"+a.Flag)
	}
	if strings.Join(names, " ") != "NEW_URL→url OLD_TLS→tls DEBUG→log-level DB→state-dir" {
		t.Errorf("applied %v", names)
	}
	env["DB"] = "relative.db"
	if _, err := ApplyEnv(flag.NewFlagSet("y", flag.ContinueOnError), vars[6:], lookup); err == nil || !strings.Contains(err.Error(), "environment DB") {
		t.Errorf("relative PATH_TO_DB-like value: %v", err)
	}
}

// TestMapSetting: a Map flag takes name=value pairs, and an inline table in
// the settings file.
func TestMapSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(file, []byte("nkeys = { \"runner-2\" = \"UB\", \"runner-1\" = \"UA\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var m Map
	fs.Var(&m, "nkeys", "")
	if err := Load(fs, file, false); err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["runner-1"] != "UA" || m["runner-2"] != "UB" || m.String() != "runner-1=UA,runner-2=UB" {
		t.Fatalf("map %v", m)
	}
	for _, bad := range []string{"runner-1", "=UA", "a=1,a=2"} {
		var m Map
		if err := m.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
