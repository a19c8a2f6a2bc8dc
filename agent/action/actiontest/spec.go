// Package actiontest holds what the action packages' tests share: a Spec
// built from YAML text with the real strict decoder, a captured logger, and
// the "no secret in the error or the log" assertion.
package actiontest

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
)

// File is the file name the decoder reports in its errors.
const File = "cfg.yaml"

// Spec parses one action's YAML (a mapping with name, type and the type's
// keys) into a Spec whose Decode is config.Decoder, as the loader builds it.
// Secrets resolve against an empty environment; see SpecEnv.
func Spec(t testing.TB, yamlText string) action.Spec {
	t.Helper()
	return SpecEnv(t, yamlText, nil)
}

// SpecEnv is Spec with "$NAME" references resolved from env; "file:PATH"
// references read PATH.
func SpecEnv(t testing.TB, yamlText string, env map[string]string) action.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(yamlText), &doc); err != nil {
		t.Fatalf("actiontest: bad YAML: %v", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("actiontest: the YAML must be one mapping")
	}
	node := doc.Content[0]
	name, typ := scalar(node, "name"), scalar(node, "type")
	res := &config.Resolver{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}
	return action.Spec{
		Name:    name,
		Type:    typ,
		Decode:  config.ResolvingDecoder(File, fmt.Sprintf("actions[0] %q", name), node, res, "name", "type", "enable", "runs-on"),
		BaseDir: t.TempDir(),
		Logger:  slog.New(slog.DiscardHandler),
	}
}

func scalar(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1].Value
		}
	}
	return ""
}

// GuardedSpec is the Spec the loader would hand over for an action of typ
// with the given type-specific keys: "$NAME" secrets come from the process
// environment (t.Setenv), and the test fails if anything the action logged
// holds marker, the string every secret in the test carries.
func GuardedSpec(t testing.TB, typ, keys, marker string) action.Spec {
	t.Helper()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	spec := SpecEnv(t, "name: test-action\ntype: "+typ+"\n"+keys, env)
	log, logs := Logger()
	spec.Logger = log
	t.Cleanup(func() { NoSecret(t, logs, marker) })
	return spec
}
