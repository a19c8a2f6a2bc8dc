package bundled

import (
	"reflect"
	"testing"
)

// userTemplate is a Postee-era template in Rego v0, importing the helpers
// from data.postee as Postee's own templates do. Each rule is one case.
const userTemplate = `package user.postee.era

import data.postee.by_flag
import data.postee.clamp
import data.postee.duplicate
import data.postee.flat_array
import data.postee.is_critical_or_high_vuln
import data.postee.is_new_vuln
import data.postee.number_of_vulns
import data.postee.severity_as_string
import data.postee.triggered_by_as_string
import data.postee.with_default

with_default_present = with_default(input, "image", "none")
with_default_missing = with_default(input, "registry", "none")
with_default_false = with_default(input, "flag", "none")
by_flag_true = by_flag("FAIL", "PASS", true)
by_flag_false = by_flag("FAIL", "PASS", false)
duplicate_2 = duplicate("a", "b", 2)
clamp_low = clamp(3, 7)
clamp_high = clamp(9, 7)
flat = flat_array([[1, 2], [], [3]])
severity_4 = severity_as_string(4)
severity_0 = severity_as_string(0)
triggered = triggered_by_as_string("TRIGGERED_BY_PR")
new_yes = is_new_vuln(true)
critical_3 = is_critical_or_high_vuln(3)
critical_1 = is_critical_or_high_vuln(1)
vulns_critical = number_of_vulns("vulnerability", 4)
vulns_high = number_of_vulns("vulnerability", 3)
`

func TestPosteeHelpersForV0Templates(t *testing.T) {
	input := map[string]any{
		"image": "alpine:3.10", "flag": false,
		"vulnerability_critical_count": 5, "vulnerability_high_count": 2,
		"results": []any{
			map[string]any{"type": 7, "severity": 4, "is_new": true},
			map[string]any{"type": 7, "severity": 4, "is_new": false},
			map[string]any{"type": 10, "severity": 4, "is_new": true},
		},
	}
	want := map[string]any{
		"with_default_present": "alpine:3.10",
		"with_default_missing": "none",
		"with_default_false":   "none",
		"by_flag_true":         "FAIL",
		"by_flag_false":        "PASS",
		"duplicate_2":          "b",
		"clamp_low":            jsonNumber(3),
		"clamp_high":           jsonNumber(7),
		"flat":                 []any{jsonNumber(1), jsonNumber(2), jsonNumber(3)},
		"severity_4":           "Critical",
		"severity_0":           "Unknown",
		"triggered":            "PR",
		"new_yes":              "Yes",
		"critical_3":           true,
		"critical_1":           false,
		"vulns_critical":       "5 (1 new)",
		"vulns_high":           "2",
	}
	for _, extra := range []map[string]string{
		{"user/template.rego": userTemplate},
		// A user who copied Postee's common.rego next to their templates:
		// the same helpers defined twice must agree, not conflict.
		{"user/template.rego": userTemplate, "user/common.rego": userCommonCopy},
	} {
		c, err := compile(extra)
		if err != nil {
			t.Fatalf("compile with %d user modules: %v", len(extra), err)
		}
		got := renderWith(t, c, "user.postee.era", input)
		for k, w := range want {
			if !reflect.DeepEqual(got[k], w) {
				t.Errorf("%d user modules: %s = %#v, want %#v", len(extra), k, got[k], w)
			}
		}
	}
}

// userCommonCopy is written the way Postee's common helpers are, in v0.
const userCommonCopy = `package postee

by_flag(a, b, flag) = a {
	flag
}
by_flag(a, b, flag) = b {
	flag = false
}
with_default(obj, prop, default_value) = default_value {
	not obj[prop]
}
with_default(obj, prop, default_value) = obj[prop] {
	obj[prop]
}
flat_array(a) = o {
	o := [x | x := a[_][_]]
}
`
