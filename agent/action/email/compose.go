package email

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postee-fleet/posteed/agent/action"
)

// message is one composed email: its envelope and its RFC 5322 text.
type message struct {
	from string   // bare address, for MAIL FROM
	to   []string // bare addresses, for RCPT TO
	data []byte   // CRLF line endings; net/smtp's Data writer dot-stuffs it
}

// compose builds the message. Postee's email templates render HTML: such a
// body goes out as multipart/alternative, a plain-text rendering first and
// the HTML as the preferred part, so text-only readers and filters get
// words rather than markup. Any other body is plain text. Parts are
// quoted-printable so long template lines stay within SMTP's line limit.
func compose(from string, to []string, m action.Message, now time.Time) (*message, error) {
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender: %w: %w", err, action.ErrPermanent)
	}
	var b bytes.Buffer
	header(&b, "From", sender.String())
	header(&b, "To", addressList(to))
	header(&b, "Subject", subject(oneLine(m.Title)))
	header(&b, "Date", now.Format(time.RFC1123Z))
	header(&b, "Message-ID", "<"+messageID(sender.Address)+">")
	header(&b, "MIME-Version", "1.0")
	if looksHTML(m.Body) {
		err = alternative(&b, htmlText(m.Body), m.Body)
	} else {
		err = plain(&b, m.Body)
	}
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return &message{from: sender.Address, to: to, data: b.Bytes()}, nil
}

// maxLine is RFC 5322's recommended line length, which folding keeps to
// wherever a header has spaces to fold at.
const maxLine = 78

// header writes one header field folded at spaces.
func header(b *bytes.Buffer, name, value string) {
	b.WriteString(name + ":")
	n := len(name) + 1
	for _, word := range strings.Split(value, " ") {
		if word != "" && n > len(name)+1 && n+1+len(word) > maxLine {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
}

func addressList(addrs []string) string {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = (&mail.Address{Address: a}).String()
	}
	return strings.Join(list, ", ")
}

// subject returns title as it can stand in the header: RFC 2047 encoded
// when it has characters outside printable ASCII, a word too long to fold
// or something a reader would decode as an encoded word.
func subject(title string) string {
	encode := strings.Contains(title, "=?")
	for _, w := range strings.Split(title, " ") {
		encode = encode || len(w) > maxLine-len("Subject: ")
	}
	for i := 0; i < len(title) && !encode; i++ {
		encode = title[i] < ' ' || title[i] > '~'
	}
	if !encode {
		return title
	}
	return encodedWords(title)
}

// encodedWords is s as UTF-8 "B" encoded words of whole characters, each
// short enough for a folded line of its own.
func encodedWords(s string) string {
	const chunk = 42 // bytes: 56 in base64, a 68-octet word
	var words []string
	for s != "" {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > chunk {
				break
			}
			n += size
		}
		words = append(words, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// plain writes a text/plain body. It ends with a line break: the end of
// the DATA needs one anyway.
func plain(b *bytes.Buffer, body string) error {
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	if err := quoted(b, body); err != nil {
		return err
	}
	if !strings.HasSuffix(body, "\n") && !strings.HasSuffix(body, "\r") {
		b.WriteString("\r\n")
	}
	return nil
}

// alternative writes a multipart/alternative body: text, then HTML.
func alternative(b *bytes.Buffer, text, html string) error {
	mw := multipart.NewWriter(b)
	header(b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, content string }{{"text/plain", text}, {"text/html", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return err
		}
		if err := quoted(w, p.content); err != nil {
			return err
		}
	}
	return mw.Close()
}

// quoted writes s quoted-printable, its line breaks as CRLF.
func quoted(w io.Writer, s string) error {
	qw := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qw, s); err != nil {
		return err
	}
	return qw.Close()
}
