package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type valueSpec struct {
	Password Secret            `yaml:"password"`
	Hook     SecretURL         `yaml:"hook"`
	Base     URL               `yaml:"base"`
	Env      []Text            `yaml:"env"`
	Headers  map[string][]Text `yaml:"headers"`
}

// decodeValues decodes text as an action's keys with a resolver whose
// environment is env and whose credentials directory holds files.
func decodeValues(t *testing.T, text string, env map[string]string, files map[string]string, remote bool) (valueSpec, *[]string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	var kept []string
	r := &Resolver{
		LookupEnv:      func(n string) (string, bool) { v, ok := env[n]; return v, ok },
		CredentialsDir: dir,
		Remote:         remote,
		Register:       func(s string) { kept = append(kept, s) },
	}
	var spec valueSpec
	err := ResolvingDecoder("cfg.yaml", `actions[0] "a"`, doc.Content[0], r)(&spec)
	return spec, &kept, err
}

func TestValuesResolve(t *testing.T) {
	env := map[string]string{"PW": "pw-from-env", "HOOK": "https://hooks.example/T0/sekret", "BASE": "https://user:base-pass@jira.example"}
	files := map[string]string{"pw": "pw-from-file\n"}
	tests := []struct {
		name, yaml string
		check      func(valueSpec) bool
		wantKept   []string
	}{
		{"literal secret", "password: literal-pw\n", func(s valueSpec) bool { return s.Password.Value() == "literal-pw" }, []string{"literal-pw"}},
		{"$NAME", "password: $PW\n", func(s valueSpec) bool { return s.Password.Value() == "pw-from-env" }, []string{"pw-from-env"}},
		{"${NAME}", "password: ${PW}\n", func(s valueSpec) bool { return s.Password.Value() == "pw-from-env" }, []string{"pw-from-env"}},
		{"file: in the credentials directory", "password: file:pw\n", func(s valueSpec) bool { return s.Password.Value() == "pw-from-file" }, []string{"pw-from-file"}},
		{"secret url from ${NAME}", "hook: ${HOOK}\n", func(s valueSpec) bool { return s.Hook.URL().Host == "hooks.example" }, []string{env["HOOK"]}},
		{"url keeps only its password", "base: $BASE\n", func(s valueSpec) bool { return s.Base.URL().Host == "jira.example" }, []string{"base-pass"}},
		{"literal text is not a secret", "env: [/usr/bin]\n", func(s valueSpec) bool { return s.Env[0].Value() == "/usr/bin" }, nil},
		{"referenced text is", "env: [$PW]\n", func(s valueSpec) bool { return s.Env[0].Value() == "pw-from-env" }, []string{"pw-from-env"}},
		{"text in a map of lists", "headers:\n  X-Token: [$PW]\n", func(s valueSpec) bool { return s.Headers["X-Token"][0].Value() == "pw-from-env" }, []string{"pw-from-env"}},
		{"a $ inside text is text", "password: $2b$10$abc\n", func(s valueSpec) bool { return s.Password.Value() == "$2b$10$abc" }, []string{"$2b$10$abc"}},
		{"unset is empty", "password:\n", func(s valueSpec) bool { return !s.Password.Set() && s.Base.Or("https://d") == "https://d" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, kept, err := decodeValues(t, tt.yaml, env, files, false)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(spec) {
				t.Fatalf("decoded %+v", spec)
			}
			if !slices.Equal(*kept, tt.wantKept) {
				t.Fatalf("registered %q, want %q", *kept, tt.wantKept)
			}
		})
	}
}

func TestValueErrorsNameTheirLine(t *testing.T) {
	tests := []struct {
		name, yaml string
		remote     bool
		want       string
	}{
		{"unset variable", "base: https://x\npassword: $NOPE\n", false, `cfg.yaml:2: actions[0] "a".password: environment variable NOPE is not set`},
		{"unset braced variable", "hook: ${NOPE}\n", false, `cfg.yaml:1: actions[0] "a".hook: environment variable NOPE is not set`},
		{"missing file", "password: file:absent\n", false, `cfg.yaml:1: actions[0] "a".password: cannot read secret file`},
		{"nested value", "headers:\n  A: [ok]\n  B:\n  - $NOPE\n", false, `cfg.yaml:4: actions[0] "a".headers.B[0]: environment variable NOPE is not set`},
		{"bad reference", "password: ${NOPE\n", true, `cfg.yaml:1: actions[0] "a".password: not a valid reference`},
		{"empty file reference", "password: 'file:'\n", true, `cfg.yaml:1: actions[0] "a".password: file: needs a path`},
		{"literal url", "\nbase: mailto:x@y\n", true, `cfg.yaml:2: actions[0] "a".base: must be an absolute http:// or https:// URL`},
		{"resolved url", "base: $NOTURL\n", false, `cfg.yaml:1: actions[0] "a".base: must be an absolute http:// or https:// URL`},
		{"nested literal", "headers:\n  A:\n  - [x]\n", true, `cfg.yaml:3: actions[0] "a".headers: must be text`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeValues(t, tt.yaml, map[string]string{"NOTURL": "S3CRET-not-a-url"}, nil, tt.remote)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Fatalf("the error quotes the value: %v", err)
			}
		})
	}
}

// A remote action's references are checked for syntax but need not
// resolve here: the runner resolves them.
func TestRemoteReferencesWait(t *testing.T) {
	spec, kept, err := decodeValues(t, "password: $ONLY_ON_RUNNER\nhook: file:hook\nbase: ${BASE}\n", nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Password.Resolved() || spec.Password.Value() != "" || !spec.Password.Set() || spec.Hook.URL() != nil || len(*kept) != 0 {
		t.Fatalf("spec %+v, kept %q", spec, *kept)
	}
	// One that resolves here too is kept for redaction all the same.
	spec, kept, err = decodeValues(t, "password: $PW\n", map[string]string{"PW": "pw-here"}, nil, true)
	if err != nil || !slices.Equal(*kept, []string{"pw-here"}) || spec.Password.Resolved() {
		t.Fatalf("err %v, kept %q", err, *kept)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	spec, kept, err := decodeValues(t, "password: pw-literal\nhook: https://h/sekret\n", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	h := spec.Password.BasicAuth("admin")
	if h != "Basic YWRtaW46cHctbGl0ZXJhbA==" || !slices.Contains(*kept, h) {
		t.Fatalf("header %q, kept %q", h, *kept)
	}
	for _, s := range []string{spec.Password.String(), spec.Hook.String()} {
		if strings.Contains(s, "literal") || strings.Contains(s, "sekret") {
			t.Fatalf("printed %q", s)
		}
	}
}
