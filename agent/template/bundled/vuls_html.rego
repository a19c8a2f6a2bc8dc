# Vulnerability report as HTML (email, Teams), from a Trivy report or an
# Aqua image scan. Only title, result, url and aggregation_pkg are rules:
# everything in this package is part of the document the engine reads, so
# the pieces are functions.
package postee.vuls.html

import data.postee.lib.text
import data.postee.lib.vuls

default title := "Vulnerability scan report"

title := vuls.title

aggregation_pkg := "postee.vuls.html.aggregation"

url := vuls.url if vuls.url != ""

default result := "<p>Vulnerability scan report</p>\n"

result := concat("", [
	details_html(vuls.details),
	compliance_html(vuls.compliance),
	"<h3>Vulnerability summary</h3>\n",
	summary_html(vuls.counts, vuls.unknown_label),
	checks_html(vuls.checks),
	concat("", [severity_html(g[0], g[1]) | some g in vuls.groups]),
	see_more_html(vuls.url),
])

details_html(details) := sprintf("<p>%s</p>\n", [concat("<br/>\n", [sprintf("<b>%s:</b> %v", [d[0], text.html(d[1])]) | some d in details])])

compliance_html(c) := "" if {
	c == ""
} else := sprintf("<p><b>%s</b></p>\n", [c])

# One literal format: a concat of constants would run on every event.
summary_html(c, unknown) := sprintf(
	"<table border=\"1\" style=\"border-collapse: collapse;\">\n<tr><th>Critical</th><th>High</th><th>Medium</th><th>Low</th><th>%s</th></tr>\n<tr><td style=\"color: #c00000; font-weight: bold;\">%v</td><td style=\"color: #e0443d; font-weight: bold;\">%v</td><td style=\"color: #f79421; font-weight: bold;\">%v</td><td style=\"color: #e1c930; font-weight: bold;\">%v</td><td style=\"color: #4a8f3c; font-weight: bold;\">%v</td></tr>\n</table>\n",
	[unknown, c.critical, c.high, c.medium, c.low, c.unknown],
)

checks_html(checks) := "" if {
	count(checks) == 0
} else := concat("", [
	"<h3>Assurance controls</h3>\n",
	text.html_table(["#", "Control", "Policy name", "Status"], [[text.html(cell) | some cell in c] | some c in checks]),
])

severity_html(b, rows) := "" if {
	count(rows) == 0
} else := concat("", [
	sprintf("<h3>%s severity vulnerabilities</h3>\n", [vuls.labels[b]]),
	"<table border=\"1\" style=\"border-collapse: collapse; width: 100%;\">\n",
	"<tr><th>Vulnerability ID</th><th>Package</th><th>Installed version</th><th>Fix version</th><th>Title</th></tr>\n",
	concat("", [sprintf("<tr><td>%s</td><td>%s</td></tr>\n", [text.html_link(r.url, r.id), cells[i]]) | some i, r in rows]),
	"</table>\n",
]) if {
	cells := row_cells(rows)
}

# row_cells renders all rows' plain cells with one escape pass; the cell
# and row separators are control characters the escape turns into markup
# or leaves for the split.
row_cells(rows) := split(strings.replace_n(
	{"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;", "\u0001": "</td><td>"},
	concat("\u0002", [sprintf("%v\u0001%v\u0001%v\u0001%.160v", [r.pkg, r.installed, r.fixed, r.title]) | some r in rows]),
), "\u0002")

see_more_html(u) := "" if {
	u == ""
} else := sprintf("<p>See more: %s</p>\n", [text.html_link(u, u)])
