# A runtime incident for ServiceNow; its data is a JSON text, shown as a
# table of its keys.
package postee.servicenow.incident

import future.keywords.if
import data.postee.by_flag
import data.postee.with_default

details := json.unmarshal(with_default(input, "data", "{}"))

detail_rows := [sprintf("<tr><td>%s</td><td>%v</td></tr>", [k, details[k]]) |
	k := sort([key | details[key]])[_]
	k != "tracee_finding"
]

level := "high" if {
	input.severity_score >= 7
} else := "medium" if {
	input.severity_score >= 4
} else := "low"

title := input.name

result := sprintf("<p><b>Category:</b> %s</p>\n<p><b>Severity:</b> %s (%s)</p>\n<p><b>Host:</b> %s</p>\n<table>\n%s\n</table>\n<p><b>Response policy:</b> %s, scopes %s</p>", [
	with_default(input, "category", "none"),
	format_int(input.severity_score, 10), level,
	with_default(input, "host", "unknown"),
	concat("\n", detail_rows),
	with_default(input, "response_policy_name", "none"),
	concat(", ", with_default(input, "application_scope", [])),
])

result_date := input.time

result_category := "Security incident"

result_severity := input.severity_score

result_assigned_to := by_flag(input.application_scope_owners[0], "", count(input.application_scope_owners) == 1)

result_assigned_group := by_flag(input.application_scope[0], "", count(input.application_scope) == 1)
