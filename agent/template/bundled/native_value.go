package bundled

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// The Go renderers read an event as the Rego reads it. A nil ast.Value is
// an undefined reference (a missing key, a key of something that is not an
// object).

// field is v[key]: nil unless v is an object holding key.
func field(v ast.Value, key string) ast.Value {
	o, ok := v.(ast.Object)
	if !ok {
		return nil
	}
	k, ok := keyTerms[key]
	if !ok {
		k = ast.StringTerm(key)
	}
	if t := o.Get(k); t != nil {
		return t.Value
	}
	return nil
}

// keyTerms are the keys the renderers read, as terms made once: a lookup
// with a new term costs two allocations. A key missing here still works.
var keyTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, k := range strings.Fields(`AquaServer ArtifactName ArtifactType Category Context Description
		EventName Family FixedVersion ID InstalledVersion Metadata Name OS PkgName PrimaryURL Properties
		Results Severity SigMetadata Technique Title VulnerabilityID Vulnerabilities aqua_severity args
		checks_performed container containerId containerImage control description disallowed eventName
		external_id failed fix_version hostName id image image_assurance_results kubernetes metadata name
		nvd_url os podName podNamespace policy_name postee processId processName registry resource resources
		signatureID signatureName timestamp value version vulnerabilities vulnerability_summary
		critical high medium low negligible`) {
		m[k] = ast.StringTerm(k)
	}
	m["MITRE ATT&CK"] = ast.StringTerm("MITRE ATT&CK")
	return m
}()

// path follows keys as object.get does with a path.
func path(v ast.Value, keys ...string) ast.Value {
	for _, k := range keys {
		if v = field(v, k); v == nil {
			return nil
		}
	}
	return v
}

// or is object.get's default: v, or def when v is undefined.
func or(v, def ast.Value) ast.Value {
	if v == nil {
		return def
	}
	return v
}

// objectGet is object.get(o, key, def), where a key that is an array is
// a path.
func objectGet(o ast.Object, key, def ast.Value) ast.Value {
	keys, ok := key.(*ast.Array)
	if !ok {
		if t := o.Get(ast.NewTerm(key)); t != nil {
			return t.Value
		}
		return def
	}
	curr := ast.NewTerm(o)
	for i := range keys.Len() {
		if curr = curr.Get(keys.Elem(i)); curr == nil {
			return def
		}
	}
	return curr.Value
}

// unlessBlank is object.get({"": v, null: v}, key, alt): v when key is ""
// or null, else alt.
func unlessBlank(key, v, alt ast.Value) ast.Value {
	if _, ok := key.(*ast.Array); ok {
		return objectGet(ast.NewObject(ast.Item(ast.StringTerm(""), ast.NewTerm(v)), ast.Item(ast.NullTerm(), ast.NewTerm(v))), key, alt)
	}
	if blank(key) {
		return v
	}
	return alt
}

// blank is `v in {"", null}`.
func blank(v ast.Value) bool {
	switch x := v.(type) {
	case ast.String:
		return x == ""
	case ast.Null:
		return true
	}
	return false
}

// isObject is is_object.
func isObject(v ast.Value) bool {
	_, ok := v.(ast.Object)
	return ok
}

// isTrue is `v == true`.
func isTrue(v ast.Value) bool {
	b, ok := v.(ast.Boolean)
	return ok && bool(b)
}

// isString is `v == s`.
func isString(v ast.Value, s string) bool {
	x, ok := v.(ast.String)
	return ok && string(x) == s
}

var (
	emptyString = ast.String("")
	none        = ast.String("none")
	null        = ast.Null{}
	emptyObject = ast.NewObject()
)

// arg converts a sprintf argument as OPA does: strings and numbers become
// Go values, anything else its Rego text.
func arg(v ast.Value) any {
	switch x := v.(type) {
	case ast.String:
		return string(x)
	case ast.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			if f, ok := x.Float64(); ok {
				return f
			}
			return s
		}
		if i, ok := util.Atoi64(s); ok {
			return i
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b
		}
		return s
	}
	return v.String()
}

// sprintf is Rego's sprintf: Go strings pass as they are, event values as
// arg converts them.
func sprintf(format string, args ...any) string {
	if s, ok := plainFormat(format, args); ok {
		return s
	}
	for i, a := range args {
		if v, ok := a.(ast.Value); ok {
			args[i] = arg(v)
		}
	}
	return fmt.Sprintf(format, args...)
}

// plainFormat is fmt.Sprintf for the usual case without fmt's cost: a
// format whose verbs are %s and %v, and arguments that are strings (or
// event values for %v). ok is false for anything else.
func plainFormat(format string, args []any) (string, bool) {
	var b strings.Builder
	b.Grow(len(format) + 16*len(args))
	n := 0
	for {
		i := strings.IndexByte(format, '%')
		if i < 0 {
			b.WriteString(format)
			break
		}
		if i+1 == len(format) || n == len(args) {
			return "", false
		}
		verb := format[i+1]
		b.WriteString(format[:i])
		format = format[i+2:]
		if verb != 's' && verb != 'v' {
			return "", false
		}
		switch a := args[n].(type) {
		case string:
			b.WriteString(a)
		case ast.String:
			b.WriteString(string(a))
		case ast.Value:
			if verb != 'v' {
				return "", false
			}
			b.WriteString(fmt.Sprintf("%v", arg(a)))
		default:
			return "", false
		}
		n++
	}
	return b.String(), n == len(args)
}

// str is text.str: a value for display, "none" for null and "".
func str(v ast.Value) string {
	switch x := v.(type) {
	case ast.String:
		if x != "" {
			return string(x)
		}
		return "none"
	case ast.Null:
		return "none"
	}
	return sprintf("%v", v)
}

// get is text.get: str(o[k]), "none" when undefined.
func get(o ast.Value, k string) string {
	if v := field(o, k); v != nil {
		return str(v)
	}
	return "none"
}
