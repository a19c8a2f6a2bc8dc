package email

import (
	"crypto/rand"
	"encoding/hex"
	"html"
	"net/mail"
	"regexp"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// oneLine keeps a rendered title from injecting headers.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

func messageID(from string) string {
	domain := "posteed.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = a.Address[at+1:]
		}
	}
	var r [12]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:]) + "@" + domain
}

var (
	anyTag    = regexp.MustCompile(`(?s)<[a-zA-Z!/][^>]*>`)
	hidden    = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(script|style|head)\s*>`)
	lineBreak = regexp.MustCompile(`(?i)<br\s*/?>|</(p|div|tr|li|h[1-6]|table|ul|ol|pre|blockquote)\s*>`)
	cellEnd   = regexp.MustCompile(`(?i)</t[dh]\s*>`)
	blanks    = regexp.MustCompile(`[ \t]+`)
	manyLines = regexp.MustCompile(`\n{3,}`)
)

// looksHTML tells a template's HTML from plain text.
func looksHTML(s string) bool { return anyTag.MatchString(s) }

// htmlText is a readable plain-text rendering of an HTML body: markup
// gone, blocks and rows on their own lines, cells one space apart,
// entities decoded.
func htmlText(s string) string {
	s = hidden.ReplaceAllString(s, "")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	s = lineBreak.ReplaceAllString(s, "\n")
	s = cellEnd.ReplaceAllString(s, " ")
	s = html.UnescapeString(anyTag.ReplaceAllString(s, ""))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(blanks.ReplaceAllString(l, " "))
	}
	return strings.TrimSpace(manyLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")) + "\n"
}

// recipients expands Postee's owner placeholder from the event's
// application_scope_owners and returns bare addresses for RCPT TO.
func recipients(configured []string, m action.Message) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		a, err := mail.ParseAddress(s)
		if err != nil || seen[a.Address] {
			return
		}
		seen[a.Address] = true
		out = append(out, a.Address)
	}
	for _, r := range configured {
		if r != ownerPlaceholder {
			add(r)
			continue
		}
		for _, o := range owners(m.Doc()) {
			add(o)
		}
	}
	return out
}

func owners(input any) []string {
	doc, _ := input.(map[string]any)
	list, _ := doc["application_scope_owners"].([]any)
	var out []string
	for _, o := range list {
		if s, ok := o.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
