package postee.trivyoperator.slack

import data.postee.flat_array

title := sprintf("Vulnerabilities in %s:%s", [input.report.artifact.repository, input.report.artifact.tag])

result := flat_array([
	[{"type": "section", "text": {"type": "mrkdwn", "text": sprintf("*Namespace:* %s", [input.metadata.namespace])}}],
	[{"type": "section", "text": {"type": "mrkdwn", "text": sprintf("<%s|%s> %s in %s %s", [v.primaryLink, v.vulnerabilityID, v.severity, v.resource, v.installedVersion])}} |
		v := input.report.vulnerabilities[_]
	],
])
