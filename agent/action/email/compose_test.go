package email

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// What goes in comes out: the message, sent through the fake server and
// read back with net/mail, mime and mime/multipart, decodes to the title
// and the body it was composed from.
func TestMessageRoundTrip(t *testing.T) {
	longLine := strings.Repeat("0123456789", 150)
	page := "<html><body><p>Grüße aus Zürich</p>\n<table><tr><td>CVE-2024-0001</td><td>kritisch</td></tr></table>\n" +
		"<pre>" + longLine + "</pre>\n.a line that starts with a dot\n.\n</body></html>"
	tests := []struct {
		name, title, body string
		wantText          string // "": the body itself
		wantHTML          bool
	}{
		{"plain", "2 critical", "2 critical & 1 high\nsee https://aqua/x\n", "", false},
		{"plain without a final line break", "t", "no line break", "no line break\n", false},
		{"non-ASCII", "Schwachstellen in „openssl“ — 日本語 ✓", "Größe: 3 Pakete\n日本語のテキスト\n", "", false},
		{"long lines, dots, trailing spaces", "t",
			longLine + "\n.starts with a dot\n.\n..\nspaces at the end  \n\ttab first\n", "", false},
		{"html", "Scan of alpine — 2 critical", page, htmlText(page), true},
		{"long subject", strings.TrimSpace(strings.Repeat("word ", 300)), "b\n", "", false},
		{"one long word", strings.Repeat("x", 1200), "b\n", "", false},
		{"looks encoded", "=?UTF-8?B?Zm9v?= is not foo", "b\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, &smtpd{})
			msg, err := compose("p@example.com", []string{"x@example.org"}, action.Message{Title: tt.title, Body: tt.body}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := deliver(context.Background(), relayTo(srv), msg); err != nil {
				t.Fatal(err)
			}
			p := parse(t, srv.received()[0].data)
			wantText, wantType, wantHTML := tt.wantText, "text/plain", ""
			if wantText == "" {
				wantText = tt.body
			}
			if tt.wantHTML {
				wantType, wantHTML = "multipart/alternative", tt.body
			}
			if p.subject != tt.title || p.ctype != wantType || p.text != wantText || p.html != wantHTML {
				t.Fatalf("read back %+v\nwant subject %q, %s, text %q, html %q", p, tt.title, wantType, wantText, wantHTML)
			}
		})
	}
}

// The text as it goes on the wire: CRLF line endings, the usual headers
// and no others, headers within 78 octets, the text part before the HTML.
func TestComposeWireFormat(t *testing.T) {
	var to []string
	for i := range 60 {
		to = append(to, fmt.Sprintf("owner-%02d@example.org", i))
	}
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	title := "Scan of alpine — 2 critical\r\nBcc: evil@example.net " + strings.Repeat("ü", 200)
	msg, err := compose("Postee Alerts <p@example.com>", to, action.Message{Title: title, Body: "<p>x</p>"}, now)
	if err != nil {
		t.Fatal(err)
	}
	data := string(msg.data)
	if strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\r") {
		t.Fatal("a line ending other than CRLF")
	}
	head, _, _ := strings.Cut(data, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if len(line) > maxLine {
			t.Errorf("header line of %d octets: %q", len(line), line)
		}
	}
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range m.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	if want := []string{"Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}; !slices.Equal(names, want) {
		t.Errorf("headers %v, want %v (no User-Agent, X-Mailer or injected Bcc)", names, want)
	}
	checkHeaders(t, m.Header, to, now)
	if msg.from != "p@example.com" || !slices.Equal(msg.to, to) {
		t.Errorf("envelope %q → %v", msg.from, msg.to)
	}
	if got := partTypes(t, m); !slices.Equal(got, []string{"text/plain", "text/html"}) {
		t.Errorf("parts %v, want text/plain then text/html", got)
	}
}

func checkHeaders(t *testing.T, h mail.Header, to []string, now time.Time) {
	t.Helper()
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Postee Alerts" || from[0].Address != "p@example.com" {
		t.Errorf("From = %v, %v", from, err)
	}
	list, err := h.AddressList("To")
	var got []string
	for _, a := range list {
		got = append(got, a.Address)
	}
	if err != nil || !slices.Equal(got, to) {
		t.Errorf("To = %v, %v", got, err)
	}
	if d, err := h.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date = %v, %v; want %v", d, err, now)
	}
	if id := h.Get("Message-Id"); !regexp.MustCompile(`^<[0-9a-f]{24}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	if v := h.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || !strings.HasPrefix(s, "Scan of alpine — 2 critical Bcc: evil@example.net üü") {
		t.Errorf("Subject = %q, %v", s, err)
	}
}

// partTypes lists a multipart message's parts, checking each is
// quoted-printable UTF-8.
func partTypes(t *testing.T, m *mail.Message) []string {
	t.Helper()
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return types
		}
		if err != nil {
			t.Fatal(err)
		}
		ctype, params, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if params["charset"] != "UTF-8" || part.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part %s: %v", ctype, part.Header)
		}
		types = append(types, ctype)
	}
}
