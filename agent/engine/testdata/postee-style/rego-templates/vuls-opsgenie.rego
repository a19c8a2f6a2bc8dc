# An image scan as an Opsgenie alert: the result is an object, sent as
# JSON; alias groups alerts of one image digest.
package postee.vuls.opsgenie

import future.keywords.if
import data.postee.with_default

counts := with_default(input, "vulnerability_summary", {})

priority := "P1" if {
	with_default(counts, "critical", 0) > 0
} else := "P2" if {
	with_default(counts, "high", 0) > 0
} else := "P4"

title := input.image

result := {
	"description": sprintf("%s vulnerability scan report: %d vulnerabilities", [input.image, with_default(counts, "total", 0)]),
	"alias": sprintf("%s@%s", [input.image, with_default(input, "digest", "unknown")]),
	"priority": priority,
	"tags": {v.aqua_severity | v := input.resources[_].vulnerabilities[_]},
	"blocked": with_default(input.image_assurance_results, "disallowed", false),
}
