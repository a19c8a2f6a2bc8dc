package bundled

// Slack blocks as the engine writes a Rego result it reads as blocks:
// encoding/json with object keys sorted. blocks collects them.
type blocks []byte

func (b *blocks) next() {
	if len(*b) == 0 {
		*b = append(*b, '[')
	} else {
		*b = append(*b, ',')
	}
}

// text adds a block with a text object: {"text":{...},"type":kind}.
func (b *blocks) text(kind, textType, s string, emoji bool) {
	b.next()
	*b = append(*b, `{"text":{`...)
	if emoji {
		*b = append(*b, `"emoji":true,`...)
	}
	*b = append(*b, `"text":`...)
	*b = appendJSONString(*b, s)
	*b = append(*b, `,"type":"`...)
	*b = append(*b, textType...)
	*b = append(*b, `"},"type":"`...)
	*b = append(*b, kind...)
	*b = append(*b, `"}`...)
}

// section is text.slack_section.
func (b *blocks) section(s string) { b.text("section", "mrkdwn", slackCap(s), false) }

func (b *blocks) divider() {
	b.next()
	*b = append(*b, `{"type":"divider"}`...)
}

// fields adds a section of mrkdwn fields.
func (b *blocks) fields(texts []string) {
	b.next()
	*b = append(*b, `{"fields":[`...)
	for i, t := range texts {
		if i > 0 {
			*b = append(*b, ',')
		}
		*b = append(*b, `{"text":`...)
		*b = appendJSONString(*b, t)
		*b = append(*b, `,"type":"mrkdwn"}`...)
	}
	*b = append(*b, `],"type":"section"}`...)
}

func (b *blocks) String() string {
	if len(*b) == 0 {
		return "[]"
	}
	return string(*b) + "]"
}
