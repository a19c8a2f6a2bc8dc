# A Tracee finding as Slack Block Kit blocks, from either Tracee output
# shape.
package postee.tracee.slack

import data.postee.lib.text
import data.postee.lib.tracee

default title := "Tracee detection"

title := tracee.title

aggregation_pkg := "postee.tracee.slack.aggregation"

default result := [{"type": "section", "text": {"type": "mrkdwn", "text": "Tracee detection"}}]

result := array.concat(
	array.concat(
		[{"type": "header", "text": {"type": "plain_text", "text": substring(f.title, 0, 150)}}],
		description_blocks(f.description),
	),
	fields_blocks(f.fields),
) if {
	f := tracee.finding
}

description_blocks(d) := [] if {
	d in {"", null}
} else := [{"type": "section", "text": {"type": "mrkdwn", "text": text.slack_cap(text.slack(sprintf("%v", [d])))}}]

# All fields are escaped in one pass (\u0001 cannot come out of the escape)
# and split back. A section holds at most ten fields of 2000 characters.
fields_blocks(fields) := [] if {
	count(fields) == 0
} else := [{"type": "section", "fields": [{"type": "mrkdwn", "text": substring(t, 0, 2000)} |
	some t in split(text.slack(concat("\u0001", [sprintf("*%s:*\n%v", f) | some f in array.slice(fields, 0, 10)])), "\u0001")
]}]
