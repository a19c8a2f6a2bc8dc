// Package subst replaces Postee's `event.input.<path>` references in an
// action's text (an HTTP body, say) with values from the event.
//
// A reference is `event.input` followed by `.key`, `.0` or `[0]` steps, e.g.
// `event.input.Results[0].Target`. Bare `event.input` is the whole event.
// The text is scanned once by Compile; Render only walks the event.
//
// How a value is written depends on where the reference stands. When the
// text is JSON (it starts with `{` or `[`):
//   - inside a JSON string, strings are JSON-escaped without quotes and other
//     values are JSON-encoded then escaped, so the string stays valid;
//     a missing path gives the empty string;
//   - outside strings, values are JSON-encoded (strings get quotes), and a
//     missing path gives null, so the document stays valid.
//
// Otherwise strings are written as they are, other values JSON-encoded, and
// a missing path gives nothing.
package subst

import (
	"bytes"
	"strings"
)

const prefix = "event.input"

// Template is text compiled for substitution. It is immutable and safe for
// concurrent use.
type Template struct {
	parts []part
	size  int // length of the literal text, to size the output
}

// part is either literal text or a reference.
type part struct {
	literal  string
	ref      bool
	path     []step
	inString bool
	json     bool
}

// Compile finds every reference in text.
func Compile(text string) *Template {
	t := &Template{}
	isJSON := looksJSON(text)
	sc := scanner{json: isJSON}
	lit := 0
	for i := 0; i < len(text); {
		if !sc.atReference(text, i) {
			sc.advance(text[i])
			i++
			continue
		}
		path, n := parsePath(text[i+len(prefix):])
		t.addLiteral(text[lit:i])
		t.parts = append(t.parts, part{ref: true, path: path, inString: sc.inString, json: isJSON})
		i += len(prefix) + n
		lit = i
	}
	t.addLiteral(text[lit:])
	return t
}

func (t *Template) addLiteral(s string) {
	if s != "" {
		t.parts = append(t.parts, part{literal: s})
		t.size += len(s)
	}
}

// HasReferences reports whether the text refers to the event at all.
func (t *Template) HasReferences() bool {
	for _, p := range t.parts {
		if p.ref {
			return true
		}
	}
	return false
}

// Render writes the text with every reference replaced from input, the
// decoded event (map[string]any, []any, string, json.Number, float64, bool
// or nil).
func (t *Template) Render(input any) []byte {
	var b bytes.Buffer
	b.Grow(t.size + 64*len(t.parts))
	for _, p := range t.parts {
		if !p.ref {
			b.WriteString(p.literal)
			continue
		}
		v, ok := lookup(input, p.path)
		writeValue(&b, v, ok, p)
	}
	return b.Bytes()
}

func looksJSON(text string) bool {
	s := strings.TrimLeft(text, " \t\r\n")
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}
