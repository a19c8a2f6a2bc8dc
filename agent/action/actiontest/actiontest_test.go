package actiontest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/config"
)

type cfg struct {
	URL   string `yaml:"url"`
	Count int    `yaml:"count"`
}

func TestSpecDecodesStrictly(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"ok", "name: a\ntype: t\nenable: true\nruns-on: r1\nurl: http://x\ncount: 2\n", ""},
		{"unknown key", "name: a\ntype: t\nurll: http://x\n", `cfg.yaml:3: actions[0] "a".urll: unknown key (did you mean "url"?)`},
		{"wrong type", "name: a\ntype: t\ncount: many\n", `cfg.yaml:3: actions[0] "a".count`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec(t, tt.yaml)
			var c cfg
			err := spec.Decode(&c)
			if tt.wantErr == "" {
				if err != nil || c.URL != "http://x" || c.Count != 2 || spec.Name != "a" || spec.Type != "t" {
					t.Fatalf("err=%v cfg=%+v spec=%s/%s", err, c, spec.Name, spec.Type)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSpecEnvResolves(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKEN": "from-env"}
	tests := []struct {
		value, want string
		wantErr     bool
	}{
		{"$TOKEN", "from-env", false},
		{"${TOKEN}", "from-env", false},
		{"$MISSING", "", true},
		{"file:" + file, "from-file", false},
		{"file:" + file + ".nope", "", true},
		{"plain", "plain", false},
	}
	for _, tt := range tests {
		var c struct {
			Token config.Secret `yaml:"token"`
		}
		err := SpecEnv(t, "name: a\ntype: t\ntoken: "+tt.value+"\n", env).Decode(&c)
		if got := c.Token.Value(); got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: got %q, %v", tt.value, got, err)
		}
	}
}

// recorder stands in for a test so that NoSecret's failures can be observed.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestNoSecret(t *testing.T) {
	logs := &Logs{}
	fmt.Fprint(logs, `{"msg":"x","url":"http://h/a%2Fb%20c"}`)
	tests := []struct {
		name     string
		text     any
		wantFail bool
	}{
		{"nil error", nil, false},
		{"clean error", errors.New("post host: 500"), false},
		{"error with secret", fmt.Errorf("post http://h/a/b c: %w", errors.New("x")), true},
		{"escaped in logs", logs, true},
		{"bytes", []byte("a/b c"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			NoSecret(r, tt.text, "a/b c")
			if r.failed != tt.wantFail {
				t.Fatalf("failed = %v, want %v", r.failed, tt.wantFail)
			}
		})
	}
}

func TestLogsFind(t *testing.T) {
	log, logs := Logger()
	log.Info("hello", "action", "a1")
	rec, ok := logs.Find("hello")
	if !ok || rec["action"] != "a1" {
		t.Fatalf("record = %v, %v", rec, ok)
	}
	if _, ok := logs.Find("absent"); ok {
		t.Fatal("found a record never logged")
	}
}
