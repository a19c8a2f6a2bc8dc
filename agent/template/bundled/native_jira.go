package bundled

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

var jiraColors = [5]string{"#c00000", "#e0443d", "#f79421", "#e1c930", "#4a8f3c"}

// trivyJira is postee.trivy.jira: its blocks, the empty ones left out,
// separated by a blank line.
func trivyJira(in ast.Value) (Output, bool) {
	r, ok := readReport(in)
	if !ok {
		return Output{}, false
	}
	var parts []string
	var lines []string
	for _, d := range r.details {
		lines = append(lines, sprintf("*%s:* %v", d.label, escape(jiraS, d.value)))
	}
	if r.compliance != "" {
		lines = append(lines, "*"+r.compliance+"*")
	}
	parts = append(parts, strings.Join(lines, "\n"))
	counts := make([]string, 5)
	for b := range buckets {
		counts[b] = sprintf("{color:%s}*%v*{color}", jiraColors[b], r.counts[b])
	}
	parts = append(parts, "h3. Vulnerability summary\n||"+strings.Join(r.labels[:], "||")+"||\n| "+strings.Join(counts, " | ")+" |")
	if len(r.checks) > 0 {
		table := []string{"h3. Assurance controls", "||#||Control||Policy name||Status||"}
		for _, c := range r.checks {
			table = append(table, "| "+jiraS(c[0])+" | "+jiraS(c[1])+" | "+jiraS(c[2])+" | "+jiraS(c[3])+" |")
		}
		parts = append(parts, strings.Join(table, "\n"))
	}
	for _, g := range r.groups {
		table := []string{"h4. " + r.labels[g.bucket] + " severity vulnerabilities", "||Vulnerability ID||Package||Installed version||Fix version||Title||"}
		cs := cells(g.rows, jiraCells)
		for i, row := range g.rows {
			table = append(table, sprintf("| %s | %s |", jiraLink(row.url, row.id), cs[i]))
		}
		parts = append(parts, strings.Join(table, "\n"))
	}
	if r.url != "" {
		parts = append(parts, sprintf("See more: %s", jiraLink(r.url, ast.String(r.url))))
	}
	parts = deleteEmpty(parts)
	return Output{Title: r.title, Result: strings.Join(parts, "\n\n"), URL: r.url, AggregationPkg: "postee.trivy.jira.aggregation"}, true
}

func deleteEmpty(parts []string) []string {
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
