# An Aqua insight for ServiceNow: its evidence as tables, a link into the
# console (from aqua-server) and the remediation that applies.
package postee.servicenow.insight

import future.keywords.if
import future.keywords.in
import data.postee.by_flag
import data.postee.with_default

postee := with_default(input, "postee", {})

server := trim_suffix(with_default(postee, "AquaServer", ""), "/#/images/")

href := sprintf("%s/ah/#/insights/%s/resource/%s", [server, urlquery.encode(input.insight.id), urlquery.encode(input.resource.id)])

priority := "critical" if {
	input.insight.priority == 4
} else := "high" if {
	input.insight.priority == 3
} else := "medium" if {
	input.insight.priority == 2
} else := "low"

table(headers, rows) := sprintf("<table>\n<tr>%s</tr>\n%s\n</table>", [
	concat("", [sprintf("<th>%s</th>", [h]) | h := headers[_]]),
	concat("\n", [sprintf("<tr>%s</tr>", [concat("", [sprintf("<td>%s</td>", [c]) | c := row[_]])]) | row := rows[_]]),
])

vulnerabilities := [] if {
	input.evidence.vulnerabilities == null
} else := [[v.name, v.severity] | v := input.evidence.vulnerabilities[_]]

sensitive := [[d.file_type, d.file_path, d.image] | d := input.evidence.sensitive_data[_]]

evidence := concat("\n", [t |
	some part in [
		{"rows": vulnerabilities, "headers": ["Vulnerability", "Severity"]},
		{"rows": sensitive, "headers": ["File type", "Path", "Image"]},
	]
	count(part.rows) > 0
	t := table(part.headers, part.rows)
])

remediation := input.evidence.sensitive_data_remediation if {
	input.evidence.sensitive_data_remediation != ""
} else := input.evidence.malware_remediation if {
	input.evidence.malware_remediation != ""
} else := "No recommendation"

title := input.insight.description

result := sprintf("<p><b>Insight:</b> %s (%s)</p>\n<p><b>Impact:</b> %s</p>\n<p><b>Resource:</b> %s, %s</p>\n%s\n<p><b>Recommendation:</b> %s</p>%s", [
	input.insight.id, priority, input.insight.impact,
	input.resource.name, input.resource.arn,
	evidence, remediation,
	by_flag("", sprintf("\n<p><a href='%s'>Open in Aqua</a></p>", [href]), server == ""),
])

result_category := "Security insight"

result_severity := input.insight.priority

result_assigned_group := by_flag(input.application_scope[0], "", count(input.application_scope) == 1)
