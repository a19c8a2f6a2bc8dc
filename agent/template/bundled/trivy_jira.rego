# Vulnerability report as Jira wiki markup (issue description), from a
# Trivy report or an Aqua image scan.
package postee.trivy.jira

import data.postee.lib.text
import data.postee.lib.vuls

default title := "Vulnerability scan report"

title := vuls.title

aggregation_pkg := "postee.trivy.jira.aggregation"

url := vuls.url if vuls.url != ""

default result := "Vulnerability scan report"

# Blocks are separated by a blank line, which Jira needs to end a table.
result := concat("\n\n", [part |
	some part in array.concat(
		[
			details_wiki(vuls.details, vuls.compliance),
			summary_wiki(vuls.counts),
			checks_wiki(vuls.checks),
		],
		array.concat(
			[severity_wiki(g[0], g[1]) | some g in vuls.groups],
			[see_more_wiki(vuls.url)],
		),
	)
	part != ""
])

details_wiki(details, compliance) := concat("\n", array.concat(
	[sprintf("*%s:* %v", [d[0], text.jira(d[1])]) | some d in details],
	[sprintf("*%s*", [compliance]) | compliance != ""],
))

summary_wiki(counts) := concat("\n", [
	"h3. Vulnerability summary",
	text.jira_table([labels[b] | some b in vuls.buckets], [[sprintf("{color:%s}*%v*{color}", [colors[b], counts[b]]) | some b in vuls.buckets]]),
]) if {
	labels := vuls.labels
	colors := vuls.colors
}

checks_wiki(checks) := "" if {
	count(checks) == 0
} else := concat("\n", [
	"h3. Assurance controls",
	text.jira_table(["#", "Control", "Policy name", "Status"], [[text.jira(cell) | some cell in c] | some c in checks]),
])

severity_wiki(b, rows) := concat("\n", array.concat(
	[
		sprintf("h4. %s severity vulnerabilities", [vuls.labels[b]]),
		"||Vulnerability ID||Package||Installed version||Fix version||Title||",
	],
	[sprintf("| %s | %s |", [text.jira_link(r.url, r.id), cells[i]]) | some i, r in rows],
)) if {
	cells := row_cells(rows)
}

# row_cells renders all rows' plain cells with one escape pass, as in
# vuls.html.
row_cells(rows) := split(strings.replace_n(
	{"|": "\\|", "[": "\\[", "]": "\\]", "{": "\\{", "}": "\\}", "\n": " ", "\r": "", "\u0001": " | "},
	concat("\u0002", [sprintf("%v\u0001%v\u0001%v\u0001%.160v", [r.pkg, r.installed, r.fixed, r.title]) | some r in rows]),
), "\u0002")

see_more_wiki(u) := "" if {
	u == ""
} else := sprintf("See more: %s", [text.jira_link(u, u)])
