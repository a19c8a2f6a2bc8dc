# A Trivy Operator VulnerabilityReport as a Jira issue (wiki markup).
package postee.trivyoperator.jira

import data.postee.with_default

image := sprintf("%s:%s", [with_default(input.report.artifact, "repository", "unknown"), with_default(input.report.artifact, "tag", "unknown")])

namespace := with_default(input.metadata, "namespace", "unknown")

colors := {"CRITICAL": "#c00000", "HIGH": "#e0443d", "MEDIUM": "#f79421", "LOW": "#e1c930"}

total(severity) := count([v | v := input.report.vulnerabilities[_]; v.severity == severity])

totals := concat("|", [sprintf("%s: {color:%s}%d{color}", [lower(s), colors[s], total(s)]) | s := ["CRITICAL", "HIGH", "MEDIUM", "LOW"][_]])

rows(severity) := [sprintf("| %s | %s | %s | %s | %s |", [v.vulnerabilityID, v.resource, v.installedVersion, with_default(v, "fixedVersion", "none"), with_default(v, "primaryLink", "none")]) |
	v := input.report.vulnerabilities[_]
	v.severity == severity
]

section(severity) := s {
	count(rows(severity)) > 0
	s := sprintf("h4. %s severity vulnerabilities\n|| ID || Resource || Installed || Fixed || Link ||\n%s", [severity, concat("\n", rows(severity))])
}

title := sprintf("Vulnerabilities in image %s in namespace %s", [image, namespace])

result := sprintf("h1. Image: %s in namespace %s\n|%s|\n%s", [image, namespace, totals, concat("\n", [s | s := section(["CRITICAL", "HIGH", "MEDIUM", "LOW"][_])])])
