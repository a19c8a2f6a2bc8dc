package bundled

import (
	"math/big"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// traceeTitle is lib_tracee's title. Its fast path and its else agree
// whenever the fast path holds, so this is the else, which is total.
func traceeTitle(in ast.Value) string {
	sig := field(in, "SigMetadata")
	if !isObject(sig) {
		sig = emptyObject
	}
	props := path(in, "metadata", "Properties")
	if !isObject(props) {
		if props = field(sig, "Properties"); !isObject(props) {
			props = emptyObject
		}
	}
	ctx := field(in, "Context")
	if !isObject(ctx) {
		if ctx = in; !isObject(ctx) {
			ctx = emptyObject
		}
	}
	return heading(
		or(field(props, "signatureID"), or(field(sig, "ID"), emptyString)),
		or(field(props, "signatureName"), or(field(sig, "Name"), emptyString)),
		or(field(ctx, "hostName"), emptyString),
	)
}

func heading(id, name, on ast.Value) string {
	if !blank(id) && !blank(name) && !blank(on) {
		return sprintf("Tracee detection %v %v on %v", id, name, on)
	}
	parts := []string{"Tracee detection"}
	for _, p := range []ast.Value{id, name} {
		if !blank(p) {
			parts = append(parts, sprintf("%v", p))
		}
	}
	if !blank(on) {
		parts = append(parts, sprintf("on %v", on))
	}
	return strings.Join(parts, " ")
}

// finding is lib_tracee's finding: fields are label/value pairs.
type finding struct {
	title       string
	description ast.Value
	fields      []labeled
}

type labeled struct {
	label string
	value ast.Value
}

// severityTexts is lib_tracee's severity_texts, looked up as object.get
// does.
var severityTexts = ast.NewObject(
	ast.Item(ast.IntNumberTerm(0), ast.StringTerm("info (0)")),
	ast.Item(ast.IntNumberTerm(1), ast.StringTerm("low (1)")),
	ast.Item(ast.IntNumberTerm(2), ast.StringTerm("medium (2)")),
	ast.Item(ast.IntNumberTerm(3), ast.StringTerm("high (3)")),
	ast.Item(ast.IntNumberTerm(4), ast.StringTerm("critical (4)")),
)

// traceeFinding is the fast path of lib_tracee's finding; ok is false
// where the Rego takes the else (an event of an odd shape).
func traceeFinding(in ast.Value) (finding, bool) {
	sig, meta := or(field(in, "SigMetadata"), emptyObject), or(field(in, "metadata"), emptyObject)
	if !isObject(in) || !isObject(sig) || !isObject(meta) {
		return finding{}, false
	}
	props := or(field(meta, "Properties"), or(field(sig, "Properties"), emptyObject))
	ctx := or(field(in, "Context"), in)
	k := or(field(in, "kubernetes"), emptyObject)
	ts, isNum := or(field(ctx, "timestamp"), null).(ast.Number)
	if !isObject(props) || !isObject(ctx) || !isObject(k) || !isNum {
		return finding{}, false
	}
	trigger, ok := fastTrigger(in, sig, ctx)
	at, ok2 := formatTime(ts)
	if !ok || !ok2 {
		return finding{}, false
	}
	all := []labeled{
		{"Severity", severity(or(field(props, "Severity"), emptyString))},
		{"Host", or(field(ctx, "hostName"), emptyString)},
		{"Process", withExtra("%v (pid %v)", or(field(ctx, "processName"), emptyString), or(field(ctx, "processId"), emptyString))},
		{"Container", container(
			or(path(in, "container", "image"), or(field(ctx, "containerImage"), emptyString)),
			or(path(in, "container", "id"), or(field(ctx, "containerId"), emptyString)),
		)},
		{"Pod", pod(k)},
		{"Event", or(field(in, "eventName"), or(field(sig, "EventName"), emptyString))},
		{"Triggered by", trigger},
		{"MITRE ATT&CK", or(field(props, "MITRE ATT&CK"), emptyString)},
		{"Technique", withExtra("%v (%v)", or(field(props, "Technique"), emptyString), or(field(props, "external_id"), emptyString))},
		{"Category", or(field(props, "Category"), emptyString)},
		{"Time", ast.String(at)},
	}
	f := finding{title: traceeTitle(in), description: or(field(meta, "Description"), or(field(sig, "Description"), emptyString))}
	for _, l := range all {
		if !blank(l.value) {
			f.fields = append(f.fields, l)
		}
	}
	return f, true
}

func severity(s ast.Value) ast.Value { return objectGet(severityTexts, s, s) }

func withExtra(format string, base, extra ast.Value) ast.Value {
	return unlessBlank(extra, base, ast.String(sprintf(format, base, extra)))
}

func container(image, id ast.Value) ast.Value {
	return unlessBlank(image, id, unlessBlank(id, image, ast.String(sprintf("%v (%v)", image, id))))
}

func pod(k ast.Value) ast.Value {
	name := or(field(k, "podName"), emptyString)
	return unlessBlank(name, emptyString, ast.String(sprintf("%v/%v", or(field(k, "podNamespace"), emptyString), name)))
}

// fastTrigger is lib_tracee's fast_trigger: the event name of a legacy
// finding, else the triggeredBy argument's name. ok is false where the
// Rego would iterate an object or could find conflicting names (an error).
func fastTrigger(in, sig, ctx ast.Value) (ast.Value, bool) {
	if sig.(ast.Object).Len() > 0 {
		if v := field(ctx, "eventName"); v != nil {
			return v, true
		}
	}
	var found ast.Value
	switch args := field(in, "args").(type) {
	case ast.Object:
		return nil, false
	case *ast.Array:
		for i := range args.Len() {
			a := args.Elem(i).Value
			if !isString(field(a, "name"), "triggeredBy") {
				continue
			}
			if found != nil { // a second one: the Rego may see a conflict
				return nil, false
			}
			found = or(path(a, "value", "name"), emptyString)
		}
	}
	return or(found, emptyString), true
}

// formatTime is time.format on a number of nanoseconds.
func formatTime(ts ast.Number) (string, bool) {
	ns, acc := builtins.NumberToFloat(ts).Int64()
	if acc != big.Exact {
		return "", false
	}
	return time.Unix(0, ns).In(time.UTC).Format(time.RFC3339Nano), true
}
