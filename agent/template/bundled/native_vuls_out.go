package bundled

import (
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// cells renders the plain cells of rows (package, installed, fixed,
// title cut at 160 characters) with one escape pass, as the templates'
// row_cells do; the escape also turns \x01 into the cell separator.
func cells(rows []row, escaper *strings.Replacer) []string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = sprintf("%v\x01%v\x01%v\x01%.160v", r.pkg, r.installed, r.fixed, r.title)
	}
	return split(escaper.Replace(strings.Join(parts, "\x02")), "\x02")
}

var (
	htmlCells = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;", "\x01", "</td><td>")
	jiraCells = strings.NewReplacer("|", `\|`, "[", `\[`, "]", `\]`, "{", `\{`, "}", `\}`, "\n", " ", "\r", "", "\x01", " | ")
)

// vulsHTML is postee.vuls.html.
func vulsHTML(in ast.Value) (Output, bool) {
	r, ok := readReport(in)
	if !ok {
		return Output{}, false
	}
	var b strings.Builder
	b.Grow(2048 + 256*r.rows)
	details := make([]string, len(r.details))
	for i, d := range r.details {
		details[i] = sprintf("<b>%s:</b> %v", d.label, escape(htmlS, d.value))
	}
	b.WriteString("<p>" + strings.Join(details, "<br/>\n") + "</p>\n")
	if r.compliance != "" {
		b.WriteString("<p><b>" + r.compliance + "</b></p>\n")
	}
	b.WriteString("<h3>Vulnerability summary</h3>\n")
	b.WriteString(sprintf(summaryHTML, r.labels[4], r.counts[0], r.counts[1], r.counts[2], r.counts[3], r.counts[4]))
	if len(r.checks) > 0 {
		b.WriteString("<h3>Assurance controls</h3>\n<table border=\"1\" style=\"border-collapse: collapse; width: 100%;\">\n<tr><th>#</th><th>Control</th><th>Policy name</th><th>Status</th></tr>\n")
		for _, c := range r.checks {
			b.WriteString("<tr><td>" + htmlS(c[0]) + "</td><td>" + htmlS(c[1]) + "</td><td>" + htmlS(c[2]) + "</td><td>" + htmlS(c[3]) + "</td></tr>\n")
		}
		b.WriteString("</table>\n")
	}
	for _, g := range r.groups {
		b.WriteString("<h3>" + r.labels[g.bucket] + " severity vulnerabilities</h3>\n<table border=\"1\" style=\"border-collapse: collapse; width: 100%;\">\n<tr><th>Vulnerability ID</th><th>Package</th><th>Installed version</th><th>Fix version</th><th>Title</th></tr>\n")
		cs := cells(g.rows, htmlCells)
		for i, row := range g.rows {
			b.WriteString(sprintf("<tr><td>%s</td><td>%s</td></tr>\n", htmlLink(row.url, row.id), cs[i]))
		}
		b.WriteString("</table>\n")
	}
	if r.url != "" {
		b.WriteString(sprintf("<p>See more: %s</p>\n", htmlLink(r.url, ast.String(r.url))))
	}
	return Output{Title: r.title, Result: b.String(), URL: r.url, AggregationPkg: "postee.vuls.html.aggregation"}, true
}

const summaryHTML = "<table border=\"1\" style=\"border-collapse: collapse;\">\n<tr><th>Critical</th><th>High</th><th>Medium</th><th>Low</th><th>%s</th></tr>\n<tr><td style=\"color: #c00000; font-weight: bold;\">%v</td><td style=\"color: #e0443d; font-weight: bold;\">%v</td><td style=\"color: #f79421; font-weight: bold;\">%v</td><td style=\"color: #e1c930; font-weight: bold;\">%v</td><td style=\"color: #4a8f3c; font-weight: bold;\">%v</td></tr>\n</table>\n"

// htmlLink is text.html_link; a label that is not a string passes
// through unescaped, for the caller's sprintf to print.
func htmlLink(u string, label ast.Value) any {
	if u != "" {
		return sprintf("<a href=\"%s\">%s</a>", htmlS(u), escape(htmlS, label))
	}
	return escape(htmlS, label)
}

func slackLink(u string, label ast.Value) any {
	if u != "" {
		return sprintf("<%s|%s>", slackS(u), escape(slackS, label))
	}
	return escape(slackS, label)
}

func jiraLink(u string, label ast.Value) any {
	if u != "" {
		return sprintf("[%s|%s]", escape(jiraS, label), u)
	}
	return escape(jiraS, label)
}

// vulsSlack is postee.vuls.slack.
func vulsSlack(in ast.Value) (Output, bool) {
	r, ok := readReport(in)
	if !ok {
		return Output{}, false
	}
	var b blocks
	b.text("header", "plain_text", truncate(r.title, 150), true)
	var lines []string
	for _, d := range r.details {
		lines = append(lines, sprintf("*%s:* %v", d.label, escape(slackS, d.value)))
	}
	if r.compliance != "" {
		lines = append(lines, "*"+r.compliance+"*")
	}
	if len(lines) > 0 {
		b.section(strings.Join(lines, "\n"))
	}
	counts := make([]string, 5)
	for i := range buckets {
		counts[i] = sprintf("*%s:* %v", r.labels[i], r.counts[i])
	}
	b.fields(counts)
	if len(r.checks) > 0 {
		lines := []string{"*Assurance controls*"}
		for _, c := range r.checks {
			lines = append(lines, c[0]+". "+slackS(c[1])+" ("+slackS(c[2])+"): *"+c[3]+"*")
		}
		b.section(strings.Join(lines, "\n"))
	}
	b.divider()
	for _, g := range r.groups {
		b.section(severityLines(r.labels[g.bucket], g.rows))
	}
	if r.url != "" {
		b.section(sprintf("See more: %s", slackLink(r.url, ast.String(r.url))))
	}
	return Output{Title: r.title, Result: b.String(), URL: r.url, AggregationPkg: "postee.vuls.slack.aggregation"}, true
}

// maxLines is vuls.slack's max_lines: rows listed a severity.
const maxLines = 20

func severityLines(label string, rows []row) string {
	shown := rows[:min(len(rows), maxLines)]
	parts := make([]string, len(shown))
	for i, r := range shown {
		parts[i] = sprintf("%v %v → %v", r.pkg, r.installed, r.fixed)
	}
	rest := split(slackS(strings.Join(parts, "\x02")), "\x02")
	lines := []string{"*" + label + " severity vulnerabilities (" + strconv.Itoa(len(rows)) + ")*"}
	for i, r := range shown {
		lines = append(lines, sprintf("• %s  %s", slackLink(r.url, r.id), rest[i]))
	}
	if len(rows) > maxLines {
		lines = append(lines, "_…and "+strconv.Itoa(len(rows)-maxLines)+" more_")
	}
	return strings.Join(lines, "\n")
}
