# Text helpers shared by the bundled templates. Every function is total on
# any JSON value, so a sparse or odd event renders "none" instead of making
# a template undefined.
package postee.lib.text

# str renders a value for display; null and "" read "none".
str(x) := x if {
	is_string(x)
	x != ""
} else := "none" if {
	x in {null, ""}
} else := sprintf("%v", [x])

# get is str(o[k]), "none" when o is not an object or lacks k.
get(o, k) := str(v) if {
	v := o[k]
} else := "none"

# raw is o[k] as it is, "" when o is not an object or lacks k.
raw(o, k) := v if {
	v := o[k]
} else := ""

# obj is o[k] when that is an object, {} otherwise, for safe chaining.
obj(o, k) := v if {
	v := o[k]
	is_object(v)
} else := {}

# present holds for a value worth showing.
present(x) if not x in {null, "", "none"}

# cap shortens s to at most n characters, marking the cut.
cap(s, n) := concat("", [substring(s, 0, n - 1), "…"]) if {
	count(s) > n
} else := s

# The escapes test first: building a replacer costs far more than the
# test, and most values (ids, versions, names) need no escaping.
html_escapes := {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}

html(s) := strings.replace_n(html_escapes, s) if {
	regex.match(`[&<>"']`, s)
} else := s

# html_text escapes element content only: quotes are fine there, and the
# raw message would otherwise double in size.
html_text(s) := strings.replace_n({"&": "&amp;", "<": "&lt;", ">": "&gt;"}, s) if {
	regex.match(`[&<>]`, s)
} else := s

# Slack mrkdwn reserves only these three.
slack(s) := strings.replace_n({"&": "&amp;", "<": "&lt;", ">": "&gt;"}, s) if {
	regex.match(`[&<>]`, s)
} else := s

# Jira wiki markup: these would open links, macros or table cells.
jira_escapes := {
	"|": "\\|", "[": "\\[", "]": "\\]", "{": "\\{", "}": "\\}",
	"\n": " ", "\r": "",
}

jira(s) := strings.replace_n(jira_escapes, s) if {
	regex.match(`[|\[\]{}\n\r]`, s)
} else := s

# web_url is u when it is a plain http(s) address, "" otherwise: a crafted
# event can plant neither a javascript: link nor markup through it.
web_url(u) := u if {
	is_string(u)
	regex.match(`^https?://[^\s"'<>|\[\]{}\\]+$`, u)
} else := ""

# The link helpers take u from web_url: "" means no link.
html_link(u, label) := sprintf("<a href=\"%s\">%s</a>", [html(u), html(label)]) if {
	u != ""
} else := html(label)

slack_link(u, label) := sprintf("<%s|%s>", [slack(u), slack(label)]) if {
	u != ""
} else := slack(label)

jira_link(u, label) := sprintf("[%s|%s]", [jira(label), u]) if {
	u != ""
} else := jira(label)

# html_table renders rows of cells that are already HTML.
html_table(headers, rows) := sprintf(
	"<table border=\"1\" style=\"border-collapse: collapse; width: 100%%;\">\n%s%s</table>\n",
	[html_head(headers), concat("", [html_row(r) | some r in rows])],
)

html_head(headers) := "" if {
	count(headers) == 0
} else := sprintf("<tr><th>%s</th></tr>\n", [concat("</th><th>", headers)])

html_row(cells) := sprintf("<tr><td>%s</td></tr>\n", [concat("</td><td>", [sprintf("%v", [c]) | some c in cells])])

# jira_table renders rows of cells that are already wiki markup; the spaces
# keep an empty cell from reading as a header separator.
jira_table(headers, rows) := concat("\n", array.concat(
	[sprintf("||%s||", [concat("||", headers)])],
	[sprintf("| %s |", [concat(" | ", [sprintf("%v", [c]) | some c in r])]) | some r in rows],
))

slack_section(s) := {"type": "section", "text": {"type": "mrkdwn", "text": slack_cap(s)}}

slack_header(s) := {"type": "header", "text": {"type": "plain_text", "text": cap(s, 150), "emoji": true}}

slack_divider := {"type": "divider"}

# slack_cap keeps a section under Slack's 3000 character limit, cutting at a
# line end so no link or markup is left half open.
slack_cap(s) := s if {
	count(s) <= 3000
} else := concat("", [substring(s, 0, cut), "\n…"]) if {
	head := substring(s, 0, 2990)
	cut := max(indexof_n(head, "\n"))
	cut > 0
} else := concat("", [substring(s, 0, 2990), "…"])
