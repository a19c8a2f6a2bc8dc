# Helpers that Postee-era templates import from data.postee. Names and
# results follow Postee's rego-templates/common so those templates render
# unchanged; the code is ours.
package postee

# by_flag picks a when flag holds (anything but false), b when it is false.
by_flag(a, b, flag) := a if {
	flag != false
} else := b

# duplicate picks a for column 1 and b for column 2.
duplicate(a, _, col) := a if col == 1

duplicate(_, b, col) := b if col == 2

# clamp returns the smaller of a and b.
clamp(a, b) := b if {
	a > b
} else := a

# flat_array flattens one level: [[x, y], [z]] becomes [x, y, z].
flat_array(a) := [item | some inner in a; some item in inner]

# with_default is obj[prop], or default_value when it is missing or false
# (Postee's definition: a false property reads as absent).
with_default(obj, prop, default_value) := v if {
	v := obj[prop]
	v != false
} else := default_value

severity_as_string(severity) := "Critical" if {
	severity == 4
} else := "High" if {
	severity == 3
} else := "Medium" if {
	severity == 2
} else := "Low" if {
	severity == 1
} else := "Unknown"

triggered_by_as_string(triggered) := "Push" if {
	triggered == "TRIGGERED_BY_PUSH"
} else := "Offline" if {
	triggered == "TRIGGERED_BY_OFFLINE"
} else := "PR" if {
	triggered == "TRIGGERED_BY_PR"
} else := "Unknown"

is_new_vuln(is_new) := "Yes" if {
	is_new == true
} else := "No"

is_critical_or_high_vuln(severity) if severity in {3, 4}

is_critical_or_high_vuln(severity) := false if not severity in {3, 4}

# Result types of Aqua code-repository scans that are not misconfigurations:
# vulnerabilities (7), pipeline misconfigurations (10) and the rest Postee
# leaves out.
not_misconfig_types := {0, 7, 8, 10, 11}

is_misconfig(vuln_type) if not vuln_type in not_misconfig_types

is_misconfig(vuln_type) := false if vuln_type in not_misconfig_types

# Result types counted for each kind of finding in a repository scan.
finding_type_matches("vulnerability", t) if t == 7

finding_type_matches("pipeline_misconfiguration", t) if t == 10

finding_type_matches("misconfiguration", t) if is_misconfig(t)

get_numbers_of_new_vulns(vuln_type, severity) := count([r |
	some r in input.results
	r.is_new == true
	r.severity == severity
	finding_type_matches(vuln_type, r.type)
])

# number_of_vulns reads the <type>_<severity>_count field of a repository
# scan, with the new findings in brackets when there are any.
number_of_vulns(vuln_type, severity) := s if {
	new := get_numbers_of_new_vulns(vuln_type, severity)
	new > 0
	s := sprintf("%d (%d new)", [vuln_total(vuln_type, severity), new])
} else := sprintf("%d", [vuln_total(vuln_type, severity)])

vuln_total(vuln_type, severity) := with_default(input, sprintf("%s_%s_count", [vuln_type, lower(severity_as_string(severity))]), 0)
