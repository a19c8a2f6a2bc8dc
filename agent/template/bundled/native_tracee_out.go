package bundled

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// traceeHTML is postee.tracee.html.
func traceeHTML(in ast.Value) (Output, bool) {
	f, ok := traceeFinding(in)
	if !ok {
		return Output{}, false
	}
	out := Output{Title: f.title, AggregationPkg: "postee.tracee.html.aggregation"}
	if !blank(f.description) {
		out.Result = "<p>" + htmlS(sprintf("%v", f.description)) + "</p>\n"
	}
	if len(f.fields) > 0 {
		out.Result += "<table border=\"1\" style=\"border-collapse: collapse;\">\n<tr><th align=\"left\">" +
			traceeCells.Replace(htmlS(joinFields("%s\x01%v", "\x02", f.fields))) +
			"</td></tr>\n</table>\n"
	}
	if out.Result == "" {
		out.Result = "<p>Tracee detection</p>\n"
	}
	return out, true
}

// traceeCells turns the separators of the escaped fields into markup.
var traceeCells = strings.NewReplacer("\x01", "</th><td>", "\x02", "</td></tr>\n<tr><th align=\"left\">")

func joinFields(format, sep string, fields []labeled) string {
	parts := make([]string, len(fields))
	for i, l := range fields {
		parts[i] = sprintf(format, l.label, l.value)
	}
	return strings.Join(parts, sep)
}

// traceeSlack is postee.tracee.slack.
func traceeSlack(in ast.Value) (Output, bool) {
	f, ok := traceeFinding(in)
	if !ok {
		return Output{}, false
	}
	var b blocks
	b.text("header", "plain_text", prefix(f.title, 150), false)
	if !blank(f.description) {
		b.text("section", "mrkdwn", slackCap(slackS(sprintf("%v", f.description))), false)
	}
	if len(f.fields) > 0 {
		texts := split(slackS(joinFields("*%s:*\n%v", "\x01", f.fields[:min(len(f.fields), 10)])), "\x01")
		for i, t := range texts {
			texts[i] = prefix(t, 2000)
		}
		b.fields(texts)
	}
	return Output{Title: f.title, Result: b.String(), AggregationPkg: "postee.tracee.slack.aggregation"}, true
}
