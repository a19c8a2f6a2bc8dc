package slack

import (
	"encoding/json"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

const (
	// maxBlocks is Slack's limit per message; one slot goes to the title.
	maxBlocks = 50
	// maxText keeps the text under Slack's 40,000-character truncation.
	maxText = 39000
	// maxSection is Slack's limit on a section block's text.
	maxSection = 3000
)

// payload is the JSON body of one webhook call.
type payload struct {
	Text   string            `json:"text"`
	Blocks []json.RawMessage `json:"blocks,omitempty"`
}

// escaper applies Slack's three control-character escapes. Postee applies it
// to the whole rendered body, blocks included, and templates rely on that.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// payloads turns a message into one or more webhook bodies: Block Kit when
// the template produced blocks (split so no message exceeds Slack's block
// limit, each part repeating the title), a single mrkdwn text otherwise.
func payloads(m action.Message) []payload {
	title := escaper.Replace(m.Title)
	blocks, ok := parseBlocks(escaper.Replace(m.Body))
	if !ok {
		return []payload{{Text: textMessage(title, m)}}
	}
	var head []json.RawMessage
	if title != "" {
		head = []json.RawMessage{titleBlock(title)}
	}
	var out []payload
	for len(blocks) > 0 {
		n := min(len(blocks), maxBlocks-len(head))
		part := append(append([]json.RawMessage(nil), head...), blocks[:n]...)
		out = append(out, payload{Text: truncate(title, maxSection), Blocks: part})
		blocks = blocks[n:]
	}
	return out
}

// parseBlocks accepts what Postee's Slack templates emit: a JSON array of
// block objects, or the same objects without the brackets and with a
// trailing comma.
func parseBlocks(body string) ([]json.RawMessage, bool) {
	s := strings.TrimSuffix(strings.TrimSpace(body), ",")
	if strings.HasPrefix(s, "{") {
		s = "[" + s + "]"
	}
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var blocks []json.RawMessage
	if json.Unmarshal([]byte(s), &blocks) != nil || len(blocks) == 0 {
		return nil, false
	}
	for _, b := range blocks {
		var typed struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &typed) != nil || typed.Type == "" {
			return nil, false
		}
	}
	return blocks, true
}

func titleBlock(title string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"type": "section",
		"text": map[string]string{"type": "mrkdwn", "text": "*" + truncate(title, maxSection-2) + "*"},
	})
	return b
}

func textMessage(title string, m action.Message) string {
	var b strings.Builder
	if title != "" {
		b.WriteString("*" + title + "*\n")
	}
	b.WriteString(escaper.Replace(m.Body))
	if m.URL != "" && !strings.Contains(m.Body, m.URL) {
		b.WriteString("\n" + escaper.Replace(m.URL))
	}
	return truncate(b.String(), maxText)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
