# Combining already rendered messages. An aggregation package gets
# input = [{"title": ..., "description": ...}, ...]; the description is what
# the message's template rendered as its result.
package postee.lib.aggregate

import data.postee.lib.text

# An aggregation package sits inside its template's package, so it is also
# evaluated, for nothing, with every single event: the array test keeps that
# cheap.
messages := [{"title": text.get(m, "title"), "description": text.raw(m, "description")} |
	is_array(input)
	some m in input
]

title(base) := sprintf("%s (%d)", [base, count(messages)])

# Descriptions are markup our templates (or the user's) produced, so they
# are kept as they are; only the titles are escaped.
html := concat("\n", [sprintf("<h2>%s</h2>\n%s", [text.html(m.title), as_text(m.description)]) | some m in messages])

jira := concat("\n----\n", [sprintf("h2. %s\n%s", [text.jira(m.title), as_text(m.description)]) | some m in messages])

as_text(d) := d if {
	is_string(d)
} else := "" if {
	d == ""
} else := json.marshal(d)

# Slack allows 50 blocks a message: keep 49 and say what was left out.
max_blocks := 50

slack := blocks if {
	count(all_blocks) <= max_blocks
	blocks := all_blocks
} else := array.concat(array.slice(all_blocks, 0, max_blocks - 1), [{
	"type": "context",
	"elements": [{"type": "mrkdwn", "text": sprintf("%d more blocks not shown", [count(all_blocks) - max_blocks + 1])}],
}])

all_blocks := [b |
	some m in messages
	some b in array.concat(
		[text.slack_section(sprintf("*%s*", [text.slack(m.title)]))],
		array.concat(slack_blocks(m.description), [text.slack_divider]),
	)
]

# A Slack template's result reaches us as blocks, or as their JSON text when
# the engine stored the rendered message as a string.
slack_blocks(d) := d if {
	is_array(d)
} else := parsed if {
	is_string(d)
	startswith(trim_space(d), "[")
	json.is_valid(d)
	parsed := json.unmarshal(d)
	is_array(parsed)
} else := [] if {
	d in {"", null}
} else := [text.slack_section(d)] if {
	is_string(d)
} else := [text.slack_section(json.marshal(d))]
