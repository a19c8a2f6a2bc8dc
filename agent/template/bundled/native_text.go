package bundled

import (
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The escapes of lib_text.rego. strings.replace_n builds a Replacer from
// its pairs; with single-byte keys their order does not matter.
var (
	htmlEscaper     = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
	htmlTextEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	jiraEscaper     = strings.NewReplacer("|", `\|`, "[", `\[`, "]", `\]`, "{", `\{`, "}", `\}`, "\n", " ", "\r", "")
)

func htmlS(s string) string {
	if strings.ContainsAny(s, `&<>"'`) {
		return htmlEscaper.Replace(s)
	}
	return s
}

// slackS is text.slack, and text.html_text, on a string.
func slackS(s string) string {
	if strings.ContainsAny(s, "&<>") {
		return htmlTextEscaper.Replace(s)
	}
	return s
}

func jiraS(s string) string {
	if strings.ContainsAny(s, "|[]{}\n\r") {
		return jiraEscaper.Replace(s)
	}
	return s
}

// escape applies a text escape as the Rego functions do: to a string, and
// a value of any other type passes through as it is (the regex.match of
// the escape fails on it).
func escape(f func(string) string, v ast.Value) any {
	if s, ok := v.(ast.String); ok {
		return f(string(s))
	}
	return v
}

// webURL is text.web_url: u when it matches ^https?://[^\s"'<>|\[\]{}\\]+$
// (RE2's \s is [\t\n\f\r ]), "" otherwise.
func webURL(v ast.Value) string {
	s, ok := v.(ast.String)
	if !ok {
		return ""
	}
	rest, ok := strings.CutPrefix(string(s), "http://")
	if !ok {
		rest, ok = strings.CutPrefix(string(s), "https://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "\t\n\f\r \"'<>|[]{}\\") {
		return ""
	}
	return string(s)
}

// prefix is substring(s, 0, n): the first n characters.
func prefix(s string, n int) string {
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// truncate is text.cap.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		return prefix(s, n-1) + "…"
	}
	return s
}

// slackCap is text.slack_cap: at most 3000 characters, cut at the last
// line end of the first 2990 when there is one past the first character.
func slackCap(s string) string {
	if utf8.RuneCountInString(s) <= 3000 {
		return s
	}
	head := prefix(s, 2990)
	if cut := strings.LastIndexByte(head, '\n'); cut > 0 {
		return head[:cut] + "\n…"
	}
	return head + "…"
}

// split is Rego's split.
func split(s, sep string) []string { return strings.Split(s, sep) }
