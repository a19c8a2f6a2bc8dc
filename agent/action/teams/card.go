package teams

import (
	"html"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// maxBody is Postee's limit: beyond it Teams rejects the card (~28 KB).
const maxBody = 18000

// body returns the message text, or a short pointer to the full report when
// the text is too big for a card.
func body(m action.Message) string {
	if len(m.Body) <= maxBody {
		return m.Body
	}
	if m.URL != "" {
		return `<p>The report is too large for Teams. See <a href="` + html.EscapeString(m.URL) + `">` +
			html.EscapeString(m.URL) + `</a>.</p>`
	}
	return truncate(m.Body, maxBody) + "<p>(truncated)</p>"
}

// messageCard is the legacy connector format, which renders HTML in text.
func messageCard(m action.Message) map[string]any {
	return map[string]any{
		"@type":    "MessageCard",
		"@context": "https://schema.org/extensions",
		"summary":  summary(m.Title),
		"text":     "<h2>" + html.EscapeString(m.Title) + "</h2>" + body(m),
	}
}

// adaptiveCard is the Workflows format: Adaptive Cards take markdown, not HTML.
func adaptiveCard(m action.Message) map[string]any {
	title := m.Title
	if title == "" {
		title = "Postee notification"
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body": []map[string]any{
			{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true},
			{"type": "TextBlock", "text": htmlToMarkdown(body(m)), "wrap": true},
		},
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{
			{"contentType": "application/vnd.microsoft.card.adaptive", "content": card},
		},
	}
}

func summary(title string) string {
	if title == "" {
		return "Postee notification"
	}
	return truncate(title, 200)
}

var (
	tagMarkdown = strings.NewReplacer(
		"<br>", "\n", "<br/>", "\n", "<br />", "\n", "</p>", "\n\n", "</tr>", "\n",
		"<b>", "**", "</b>", "**", "<strong>", "**", "</strong>", "**",
		"<i>", "_", "</i>", "_", "<em>", "_", "</em>", "_",
		"<h1>", "# ", "<h2>", "## ", "<h3>", "### ", "</h1>", "\n", "</h2>", "\n", "</h3>", "\n",
		"<li>", "- ", "</li>", "\n", "</td>", " ", "</th>", " ",
	)
	anyTag    = regexp.MustCompile(`<[^>]*>`)
	manyLines = regexp.MustCompile(`\n{3,}`)
)

// htmlToMarkdown keeps the structure of the HTML that Postee templates
// produce for Teams and drops the rest of the markup.
func htmlToMarkdown(s string) string {
	s = tagMarkdown.Replace(s)
	s = anyTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	return strings.TrimSpace(manyLines.ReplaceAllString(s, "\n\n"))
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
