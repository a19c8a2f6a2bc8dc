package postee.vuls.html

import data.postee.by_flag
import data.postee.with_default

row_tpl := "<tr><td>%s</td><td>%s</td><td>%s</td></tr>"

rows(severity) = r {
	r := [sprintf(row_tpl, [v.name, res.resource.name, with_default(v, "fix_version", "none")]) |
		res := input.resources[_]
		v := res.vulnerabilities[_]
		v.aqua_severity == severity
	]
}

section(severity) = s {
	count(rows(severity)) > 0
	s := sprintf("<h3>%s</h3>\n<table>\n%s\n</table>", [severity, concat("\n", rows(severity))])
}

section(severity) = "" {
	count(rows(severity)) == 0
}

compliance := by_flag("Image is non-compliant", "Image is compliant", input.image_assurance_results.disallowed)

postee := with_default(input, "postee", {})

aqua_server := with_default(postee, "AquaServer", "")

title = sprintf("%s vulnerability scan report", [input.image])

url := by_flag("", sprintf("%s%s/%s", [aqua_server, urlquery.encode(input.registry), urlquery.encode(input.image)]), aqua_server == "")

aggregation_pkg := "postee.vuls.html.aggregation"

result = r {
	sections := [s | s := section(["critical", "high", "medium", "low"][_]); s != ""]
	r := sprintf("<p>Image: %s</p>\n<p>Registry: %s</p>\n<p>%s</p>\n%s", [input.image, input.registry, compliance, concat("\n", sections)])
}
