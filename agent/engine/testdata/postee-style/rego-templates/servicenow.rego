# An image scan as a ServiceNow incident: an HTML body, and the result_*
# documents Postee handed the serviceNow action as separate fields.
package postee.servicenow

import future.keywords.if
import data.postee.by_flag
import data.postee.with_default

counts := with_default(input, "vulnerability_summary", {})

count_text(severity) := format_int(with_default(counts, severity, 0), 10)

row(v, res) := sprintf("<tr><td>%s</td><td>%s</td><td>%s</td></tr>", [v.name, v.aqua_severity, res.resource.name])

rows := [row(v, res) | res := input.resources[_]; v := res.vulnerabilities[_]]

postee := with_default(input, "postee", {})

aqua_server := with_default(postee, "AquaServer", "")

link := by_flag("", sprintf("\n<p><a href='%s%s/%s'>Open in Aqua</a></p>", [aqua_server, urlquery.encode(input.registry), urlquery.encode(input.image)]), aqua_server == "")

title := sprintf("Aqua | image | %s | scan report", [input.image])

result := sprintf("<p><b>Image:</b> %s</p>\n<p><b>Registry:</b> %s</p>\n<p>critical %s, high %s, medium %s, low %s</p>\n<table>\n%s\n</table>%s", [
	input.image, input.registry,
	count_text("critical"), count_text("high"), count_text("medium"), count_text("low"),
	concat("\n", rows), link,
])

result_severity := 1 if {
	with_default(counts, "critical", 0) > 0
} else := 2 if {
	with_default(counts, "high", 0) > 0
} else := 3

result_category := "Image scanning"

result_assigned_to := by_flag(input.application_scope_owners[0], "", count(with_default(input, "application_scope_owners", [])) == 1)

result_summary := sprintf("Image: %s\nCritical: %s", [input.image, count_text("critical")])
