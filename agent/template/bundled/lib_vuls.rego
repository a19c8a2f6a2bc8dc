# A vulnerability report in one shape, whether it came from Trivy
# (ArtifactName, Results[].Vulnerabilities[]) or from an Aqua image scan
# (image, resources[].vulnerabilities[]). The vuls.* and trivy.* templates
# render from here.
package postee.lib.vuls

import data.postee.lib.text

buckets := ["critical", "high", "medium", "low", "unknown"]

# One else chain: a rule defined twice has both bodies evaluated.
is_aqua := true if {
	is_array(input.resources)
} else := true if {
	is_object(input.vulnerability_summary)
}

artifact := object.get(input, "ArtifactName", object.get(input, "image", ""))

title := sprintf("%v vulnerability scan report", [artifact]) if {
	not artifact in {"", null}
} else := "Vulnerability scan report"

artifact_label := "Image" if {
	is_aqua
} else := "Image" if {
	input.ArtifactType == "container_image"
} else := "Artifact"

# The first and third branches are the usual events, read without helper
# calls; the others keep every odd value rendering as before.
os := concat(" ", [o, text.get(input, "version")]) if {
	o := input.os
	is_string(o)
	not o in {"", "none"}
} else := concat(" ", [text.get(input, "os"), text.get(input, "version")]) if {
	text.present(input.os)
} else := concat(" ", [f, text.get(o, "Name")]) if {
	o := input.Metadata.OS
	f := o.Family
	is_string(f)
	not f in {"", "none"}
} else := concat(" ", [text.get(o, "Family"), text.get(o, "Name")]) if {
	o := text.obj(text.obj(input, "Metadata"), "OS")
	text.present(o.Family)
} else := "none"

# details are the label/value pairs worth a line above the tables. The
# templates print values with %v, so the registry needs no text.get.
details := [d |
	some d in [
		[artifact_label, artifact],
		["Registry", object.get(input, "registry", "")],
		["OS", os],
	]
	not d[1] in {"", null, "none"}
]

compliance := "Image is non-compliant" if {
	input.image_assurance_results.disallowed == true
} else := "Image is compliant" if {
	input.image_assurance_results.disallowed == false
} else := ""

# checks are the assurance controls: number, control, policy, PASS/FAIL.
checks := [[sprintf("%d", [i + 1]), text.get(c, "control"), text.get(c, "policy_name"), check_status(c)] |
	some i, c in input.image_assurance_results.checks_performed
]

check_status(c) := "FAIL" if {
	c.failed == true
} else := "PASS"

# severity_buckets maps both scanners' spellings; anything else is unknown.
severity_buckets := {
	"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low",
	"critical": "critical", "high": "high", "medium": "medium", "low": "low",
}

# Rows take one object.get a field and nothing costlier: a report can hold
# thousands of vulnerabilities. Values stay as the scanner wrote them
# (normally strings); the templates print them with %v.
trivy_rows := [{
	"id": object.get(v, "VulnerabilityID", "none"),
	"pkg": object.get(v, "PkgName", "none"),
	"installed": object.get(v, "InstalledVersion", "none"),
	"fixed": object.get(v, "FixedVersion", "none"),
	"severity": object.get(severity_buckets, object.get(v, "Severity", ""), "unknown"),
	"url": text.web_url(object.get(v, "PrimaryURL", "")),
	"title": object.get(v, "Title", "none"),
} |
	some r in input.Results
	some v in r.Vulnerabilities
]

aqua_rows := [{
	"id": object.get(v, "name", "none"),
	"pkg": object.get(r, ["resource", "name"], "none"),
	"installed": object.get(r, ["resource", "version"], "none"),
	"fixed": object.get(v, "fix_version", "none"),
	"severity": object.get(severity_buckets, object.get(v, "aqua_severity", ""), "unknown"),
	"url": text.web_url(object.get(v, "nvd_url", "")),
	"title": object.get(v, "description", "none"),
} |
	some r in input.resources
	some v in r.vulnerabilities
]

rows := array.concat(trivy_rows, aqua_rows)

# Grouping walks the rows once per bucket: linear in the report size.
by_severity := {b: [r | some r in all; r.severity == b] | all := rows; some b in buckets}

# groups are the non-empty buckets in order with their rows, so that the
# templates render only those.
groups := [[b, l] | some b in buckets; l := by_severity[b]; count(l) > 0]

# Aqua's summary is authoritative (the resource list can be partial);
# otherwise count what the report lists.
summary_keys := {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "unknown": "negligible"}

counts := {b: count(l) | some b, l in by_severity} if {
	not is_object(input.vulnerability_summary)
} else := {b: object.get(input, ["vulnerability_summary", summary_keys[b]], count(by_severity[b])) | some b in buckets}

labels := {
	"critical": "Critical",
	"high": "High",
	"medium": "Medium",
	"low": "Low",
	"unknown": unknown_label,
}

unknown_label := "Negligible" if is_aqua else := "Unknown"

colors := {"critical": "#c00000", "high": "#e0443d", "medium": "#f79421", "low": "#e1c930", "unknown": "#4a8f3c"}

# url links to the image in the Aqua console when Postee's AquaServer is set.
url := sprintf("%s%s/%s", [server, urlquery.encode(text.get(input, "registry")), urlquery.encode(artifact)]) if {
	server := input.postee.AquaServer
	is_string(server)
	text.web_url(server) != ""
	not artifact in {"", null}
} else := ""
