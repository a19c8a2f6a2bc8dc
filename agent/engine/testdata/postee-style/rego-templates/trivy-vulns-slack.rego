# A Trivy report as Slack blocks: each severity's findings in sections of
# at most two rows (four fields) each, then the counts.
package postee.vuls.trivy.slack

import data.postee.flat_array
import data.postee.with_default

field(text) := {"type": "mrkdwn", "text": text}

findings(severity) := [v | v := input.Results[_].Vulnerabilities[_]; v.Severity == severity]

fields(severity) := flat_array([[field(v.VulnerabilityID), field(concat(" / ", [v.PkgName, v.InstalledVersion, with_default(v, "FixedVersion", "none")]))] |
	v := findings(severity)[_]
])

sections(severity) := s {
	all := fields(severity)
	count(all) > 0
	chunks := [array.slice(all, i * 4, (i + 1) * 4) | i := numbers.range(0, ceil(count(all) / 4) - 1)[_]]
	s := array.concat([{"type": "section", "text": field(sprintf("*%s severity vulnerabilities*", [severity]))}], [{"type": "section", "fields": c} | c := chunks[_]])
}

sections(severity) := [] {
	count(fields(severity)) == 0
}

severities := ["CRITICAL", "HIGH", "MEDIUM", "LOW"]

title := sprintf("Vulnerability scan report: %s", [input.ArtifactName])

aggregation_pkg := "postee.vuls.slack.trivy.aggregation"

result := flat_array([
	[{"type": "section", "text": field(sprintf("Artifact: %s (%s)", [input.ArtifactName, input.ArtifactType]))}],
	flat_array([sections(s) | s := severities[_]]),
	[{"type": "section", "fields": flat_array([[field(s), field(sprintf("*%d*", [count(findings(s))]))] | s := severities[_]])}],
])
