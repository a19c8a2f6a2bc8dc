package postee.trivy.jira

import data.postee.with_default

vuln_rows(severity) = rows {
	rows := [sprintf("|%s|%s|%s|%s|", [v.VulnerabilityID, v.PkgName, v.InstalledVersion, with_default(v, "FixedVersion", "none")]) |
		r := input.Results[_]
		v := r.Vulnerabilities[_]
		v.Severity == severity
	]
}

table(severity) = t {
	count(vuln_rows(severity)) > 0
	t := sprintf("h4. %s severity\n||ID||Package||Installed||Fixed||\n%s", [severity, concat("\n", vuln_rows(severity))])
}

table(severity) = "" {
	count(vuln_rows(severity)) == 0
}

title = sprintf("%s vulnerability scan report", [input.ArtifactName])

result = sprintf("*Artifact:* %s\n*Type:* %s\n%s", [input.ArtifactName, input.ArtifactType, concat("\n", [t | t := table(["CRITICAL", "HIGH", "MEDIUM", "LOW"][_]); t != ""])])
