# A Tracee finding as HTML (email, Teams), from either Tracee output shape.
package postee.tracee.html

import data.postee.lib.text
import data.postee.lib.tracee

default title := "Tracee detection"

title := tracee.title

aggregation_pkg := "postee.tracee.html.aggregation"

default result := "<p>Tracee detection</p>\n"

result := r if {
	f := tracee.finding
	r := concat("", [description_html(f.description), fields_html(f.fields)])
	r != ""
}

description_html(d) := "" if {
	d in {"", null}
} else := sprintf("<p>%s</p>\n", [text.html(sprintf("%v", [d]))])

# One escape pass for the whole table: the cell and row separators are
# control characters the escape leaves alone, turned into markup after.
fields_html(fields) := "" if {
	count(fields) == 0
} else := concat("", [
	"<table border=\"1\" style=\"border-collapse: collapse;\">\n<tr><th align=\"left\">",
	strings.replace_n(
		{"\u0001": "</th><td>", "\u0002": "</td></tr>\n<tr><th align=\"left\">"},
		text.html(concat("\u0002", [sprintf("%s\u0001%v", f) | some f in fields])),
	),
	"</td></tr>\n</table>\n",
])
