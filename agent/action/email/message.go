package email

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// compose builds an HTML message (Postee templates render HTML for email).
// The body is quoted-printable so long template lines stay within SMTP's
// line limit.
func compose(from string, to []string, m action.Message, now time.Time) []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from)
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Title)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(from))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/html; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(m.Body))
	qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}

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
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
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
		for _, o := range owners(m.Input) {
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
