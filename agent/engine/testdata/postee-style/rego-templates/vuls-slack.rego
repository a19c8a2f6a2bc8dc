package postee.vuls.slack

import future.keywords
import data.postee.flat_array
import data.postee.with_default

field(text) := {"type": "mrkdwn", "text": text}

section(text) := {"type": "section", "text": field(text)}

vuln_fields(severity) := flat_array([[field(v.name), field(sprintf("%s %s", [res.resource.name, with_default(v, "fix_version", "none")]))] |
	some res in input.resources
	some v in res.vulnerabilities
	v.aqua_severity == severity
])

severity_blocks(severity) := [] if {
	count(vuln_fields(severity)) == 0
} else := [section(sprintf("*%s severity*", [severity])), {"type": "section", "fields": vuln_fields(severity)}]

title := sprintf("%s vulnerability scan report", [input.image])

aggregation_pkg := "postee.vuls.slack.aggregation"

result := flat_array([
	[section(sprintf("Image name: %s", [input.image])), section(sprintf("Registry: %s", [input.registry]))],
	severity_blocks("critical"),
	severity_blocks("high"),
])
