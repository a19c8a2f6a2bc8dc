# Vulnerability report as Slack Block Kit blocks, from a Trivy report or an
# Aqua image scan. Long lists are cut to stay inside Slack's limits (3000
# characters a section, 50 blocks a message).
package postee.vuls.slack

import data.postee.lib.text
import data.postee.lib.vuls

default title := "Vulnerability scan report"

title := vuls.title

aggregation_pkg := "postee.vuls.slack.aggregation"

url := vuls.url if vuls.url != ""

default result := [{"type": "section", "text": {"type": "mrkdwn", "text": "Vulnerability scan report"}}]

result := [block |
	some part in [
		[text.slack_header(vuls.title)],
		details_blocks(vuls.details, vuls.compliance),
		[{"type": "section", "fields": count_fields(vuls.labels, vuls.counts)}],
		checks_blocks(vuls.checks),
		[text.slack_divider],
		[severity_block(g[0], g[1]) | some g in vuls.groups],
		see_more_blocks(vuls.url),
	]
	some block in part
]

details_blocks(details, compliance) := [text.slack_section(concat("\n", lines))] if {
	lines := array.concat(
		[sprintf("*%s:* %v", [d[0], text.slack(d[1])]) | some d in details],
		[sprintf("*%s*", [compliance]) | compliance != ""],
	)
	count(lines) > 0
} else := []

# labels and counts come in as arguments: one rule lookup each, not one a
# bucket.
count_fields(labels, counts) := [{"type": "mrkdwn", "text": sprintf("*%s:* %v", [labels[b], counts[b]])} | some b in vuls.buckets]

checks_blocks(checks) := [] if {
	count(checks) == 0
} else := [text.slack_section(concat("\n", array.concat(
	["*Assurance controls*"],
	[sprintf("%s. %s (%s): *%s*", [c[0], text.slack(c[1]), text.slack(c[2]), c[3]]) | some c in checks],
)))]

# Twenty lines a severity keep the section well under 3000 characters;
# slack_cap guards the rest.
max_lines := 20

severity_block(b, rows) := text.slack_section(concat("\n", array.concat(
	array.concat(
		[sprintf("*%s severity vulnerabilities (%d)*", [vuls.labels[b], count(rows)])],
		[sprintf("• %s  %s", [text.slack_link(r.url, r.id), rest[i]]) | some i, r in shown],
	),
	[sprintf("_…and %d more_", [count(rows) - max_lines]) | count(rows) > max_lines],
))) if {
	shown := array.slice(rows, 0, max_lines)
	rest := split(text.slack(concat("\u0002", [sprintf("%v %v → %v", [r.pkg, r.installed, r.fixed]) | some r in shown])), "\u0002")
}

see_more_blocks(u) := [] if {
	u == ""
} else := [text.slack_section(sprintf("See more: %s", [text.slack_link(u, u)]))]
