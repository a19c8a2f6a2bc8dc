package email

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

func newEmail(t *testing.T, doc string) *Email {
	t.Helper()
	a, err := New(testSpec(t, doc))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a.(*Email)
}

// mailParts is a received message read back: its subject, its plain-text
// and HTML bodies (decoded), and its top-level content type.
type mailParts struct {
	subject, text, html, ctype string
}

// parse reads a received message, single part or multipart/alternative.
func parse(t *testing.T, data string) mailParts {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	var p mailParts
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	ctype, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p.ctype = ctype
	if !strings.HasPrefix(ctype, "multipart/") {
		p.add(t, ctype, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return p
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.add(t, pt, part.Header.Get("Content-Transfer-Encoding"), part)
	}
}

func (p *mailParts) add(t *testing.T, ctype, cte string, r io.Reader) {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch ctype {
	case "text/plain":
		p.text = string(b)
	case "text/html":
		p.html = string(b)
	default:
		t.Fatalf("unexpected part %s", ctype)
	}
}

func TestSendThroughRelay(t *testing.T) {
	srv := startSMTPD(t, &smtpd{user: "postee@example.com", pass: "sekret-pw"})
	t.Setenv("TEST_SMTP_PASSWORD", "sekret-pw")
	e := newEmail(t, fmt.Sprintf(`
host: 127.0.0.1
port: %d
user: postee@example.com
password: $TEST_SMTP_PASSWORD
recipients: ["a@example.org", "Bob <b@example.org>", "<%%application_scope_owner%%>"]
`, srv.port()))
	long := strings.Repeat("<td>CVE-2024-0001</td>", 100)
	msg := action.Message{
		Title: "Scan of alpine — 2 critical\r\nBcc: evil@example.net", Body: "<p>vulnerable</p>" + long,
		Input: map[string]any{"application_scope_owners": []any{"owner@example.org", "a@example.org"}},
	}
	if retry, err := e.Send(context.Background(), msg); err != nil || retry {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want 1", len(got))
	}
	r := got[0]
	if !r.authed || r.from != "postee@example.com" {
		t.Errorf("authed=%v from=%q", r.authed, r.from)
	}
	if want := "a@example.org,b@example.org,owner@example.org"; strings.Join(r.rcpts, ",") != want {
		t.Errorf("rcpts = %v, want %s", r.rcpts, want)
	}
	p := parse(t, r.data)
	if p.subject != "Scan of alpine — 2 critical Bcc: evil@example.net" {
		t.Errorf("subject = %q", p.subject)
	}
	if p.ctype != "multipart/alternative" || !strings.HasPrefix(p.html, "<p>vulnerable</p>") || !strings.Contains(p.html, long) {
		t.Errorf("%s, html = %.80q…", p.ctype, p.html)
	}
	if !strings.HasPrefix(p.text, "vulnerable\nCVE-2024-0001 CVE-2024-0001") || strings.Contains(p.text, "<") {
		t.Errorf("text = %.80q…", p.text)
	}
	for _, line := range strings.Split(r.data, "\n") { // the dot reader turned CRLF into LF
		if len(line) > 998 {
			t.Fatalf("a line of %d bytes breaks SMTP's limit", len(line))
		}
	}
}

func TestSendSTARTTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	tests := []struct {
		name      string
		trust     bool
		wantErr   string
		wantRetry bool
	}{
		{"trusted certificate", true, "", false},
		{"untrusted certificate is refused", false, "certificate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, &smtpd{tls: cfg, user: "u@example.com", pass: "sekret-pw"})
			e := newEmail(t, fmt.Sprintf("host: 127.0.0.1\nport: %d\nuser: u@example.com\npassword: sekret-pw\nrecipients: [x@example.org]", srv.port()))
			if tt.trust {
				e.rootCAs = pool
			}
			retry, err := e.Send(context.Background(), action.Message{Title: "t", Body: "b"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if r := srv.received(); len(r) != 1 || !r[0].tls || !r[0].authed {
					t.Fatalf("received %+v, want one message over TLS, authenticated", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v and %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			if len(srv.received()) != 0 {
				t.Error("message delivered over an unverified connection")
			}
			noSecret(t, err, "sekret-pw")
		})
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name      string
		srv       *smtpd
		pass      string
		wantRetry bool
	}{
		{"mailbox busy 450", &smtpd{rcptCode: 450}, "", true},
		{"mailbox unknown 550", &smtpd{rcptCode: 550}, "", false},
		{"wrong password 535", &smtpd{user: "u@example.com", pass: "right"}, "sekret-wrong", false},
		{"auth configured but not offered", &smtpd{}, "sekret-wrong", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, tt.srv)
			doc := fmt.Sprintf("host: 127.0.0.1\nport: %d\nsender: p@example.com\nrecipients: [x@example.org]", srv.port())
			if tt.pass != "" {
				doc += "\nuser: u@example.com\npassword: " + tt.pass
			}
			retry, err := newEmail(t, doc).Send(context.Background(), action.Message{Title: "t", Body: "b"})
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Send = %v, %v; want retry=%v", retry, err, tt.wantRetry)
			}
			noSecret(t, err, "sekret-wrong")
		})
	}
}

func TestSendUnreachableIsRetried(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := newEmail(t, fmt.Sprintf("host: 127.0.0.1\nport: %d\nsender: p@example.com\nrecipients: [x@example.org]", port))
	if retry, err := e.Send(context.Background(), action.Message{}); err == nil || !retry {
		t.Fatalf("Send = %v, %v; want a retryable error", retry, err)
	}
}

func TestSendUseMX(t *testing.T) {
	srv := startSMTPD(t, &smtpd{})
	e := newEmail(t, fmt.Sprintf("use-mx: true\nport: %d\nsender: p@example.com\nrecipients: [a@one.example, b@two.example]", srv.port()))
	var looked []string
	e.lookupMX = func(_ context.Context, domain string) ([]*net.MX, error) {
		looked = append(looked, domain)
		return []*net.MX{{Host: "127.0.0.1.", Pref: 10}}, nil
	}
	if _, err := e.Send(context.Background(), action.Message{Title: "t", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if len(looked) != 2 {
		t.Errorf("looked up %v, want both domains", looked)
	}
	got := srv.received()
	if len(got) != 2 || len(got[0].rcpts) != 1 || len(got[1].rcpts) != 1 {
		t.Errorf("received %+v, want one message per domain", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"no host", "port: 25\nsender: a@b.c\nrecipients: [x@y.z]", "host is required"},
		{"no port", "host: smtp\nsender: a@b.c\nrecipients: [x@y.z]", "port is required"},
		{"no recipients", "host: smtp\nport: 25\nsender: a@b.c", "recipients is required"},
		{"no sender", "host: smtp\nport: 25\nrecipients: [x@y.z]", "sender is required"},
		{"bad recipient", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [nobody]", `recipient "nobody"`},
		{"unknown key", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\ntls: true", "unknown key"},
		{"password without user", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\npassword: sekret", "user is not"},
		{"unset secret", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\nuser: u\npassword: $TEST_SMTP_UNSET", "TEST_SMTP_UNSET"},
		{"unknown auth", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\nuser: u\npassword: sekret\nauth: ntlm", `auth "ntlm" is not one of`},
		{"auth without password", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\nauth: login", "auth login needs user and password"},
		{"unknown starttls", "host: smtp\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\nstarttls: always", `starttls "always" is not one of`},
		{"password in clear", "host: smtp.example.com\nport: 25\nsender: a@b.c\nrecipients: [x@y.z]\nuser: u\npassword: sekret\nstarttls: none", "clear text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(testSpec(t, tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "test-action") && !strings.Contains(err.Error(), "cfg.yaml") {
				t.Errorf("error names neither the action nor the file: %v", err)
			}
			noSecret(t, err, "sekret")
		})
	}
}

func TestDeliverImplicitTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	srv := startSMTPD(t, &smtpd{implicit: cfg})
	to := server{host: "127.0.0.1", port: srv.port(), helo: "localhost", rootCAs: pool, implicit: true}
	msg, err := compose("p@example.com", []string{"x@example.org"}, action.Message{Title: "t", Body: "b"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(context.Background(), to, msg); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	if r := srv.received(); len(r) != 1 || !r[0].tls {
		t.Fatalf("received %+v, want one message over TLS", r)
	}
	to.rootCAs = nil
	if err := deliver(context.Background(), to, msg); err == nil || retryable(err) {
		t.Fatalf("deliver to an untrusted server = %v; want a permanent error", err)
	}
}

// Each mechanism is spoken as the server expects it; "auto" takes PLAIN
// when offered and LOGIN otherwise (Microsoft 365 offers LOGIN and
// XOAUTH2, not PLAIN).
func TestAuthMechanisms(t *testing.T) {
	cfg, pool := selfSigned(t)
	tests := []struct {
		name     string
		offered  []string
		auth     string
		wantMech string
		wantErr  string
	}{
		{"plain", []string{"PLAIN", "LOGIN"}, "plain", "PLAIN", ""},
		{"login", []string{"PLAIN", "LOGIN"}, "login", "LOGIN", ""},
		{"xoauth2", []string{"LOGIN", "XOAUTH2"}, "xoauth2", "XOAUTH2", ""},
		{"auto prefers plain", []string{"LOGIN", "PLAIN"}, "", "PLAIN", ""},
		{"auto falls back to login", []string{"LOGIN", "XOAUTH2"}, "", "LOGIN", ""},
		{"mechanism not offered", []string{"PLAIN"}, "xoauth2", "", "XOAUTH2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, &smtpd{tls: cfg, user: "u@example.com", pass: "sekret-pw", mechs: tt.offered})
			doc := fmt.Sprintf("host: 127.0.0.1\nport: %d\nuser: u@example.com\npassword: sekret-pw\nrecipients: [x@example.org]\nstarttls: mandatory", srv.port())
			if tt.auth != "" {
				doc += "\nauth: " + tt.auth
			}
			e := newEmail(t, doc)
			e.rootCAs = pool
			retry, err := e.Send(context.Background(), action.Message{Title: "t", Body: "b"})
			noSecret(t, err, "sekret-pw")
			if tt.wantErr != "" {
				if err == nil || retry || !strings.Contains(err.Error(), tt.wantErr) || len(srv.received()) != 0 {
					t.Fatalf("Send = %v, %v; want a permanent error naming %s", retry, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if r := srv.received(); len(r) != 1 || !r[0].authed || r[0].mech != tt.wantMech || !r[0].tls {
				t.Fatalf("received %+v, want one message over TLS authenticated with %s", r, tt.wantMech)
			}
		})
	}
}

func TestStartTLSPolicy(t *testing.T) {
	cfg, pool := selfSigned(t)
	tests := []struct {
		name    string
		offer   bool
		policy  string
		wantTLS bool
		wantErr bool
	}{
		{"opportunistic, offered", true, "opportunistic", true, false},
		{"opportunistic, not offered", false, "opportunistic", false, false},
		{"default is opportunistic", true, "", true, false},
		{"mandatory, offered", true, "mandatory", true, false},
		{"mandatory, not offered", false, "mandatory", false, true},
		{"none, offered", true, "none", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &smtpd{}
			if tt.offer {
				s.tls = cfg
			}
			srv := startSMTPD(t, s)
			doc := fmt.Sprintf("host: 127.0.0.1\nport: %d\nsender: p@example.com\nrecipients: [x@example.org]", srv.port())
			if tt.policy != "" {
				doc += "\nstarttls: " + tt.policy
			}
			e := newEmail(t, doc)
			e.rootCAs = pool
			retry, err := e.Send(context.Background(), action.Message{Title: "t", Body: "b"})
			if tt.wantErr {
				if err == nil || retry || len(srv.received()) != 0 {
					t.Fatalf("Send = %v, %v; want a permanent error and nothing sent", retry, err)
				}
				return
			}
			if r := srv.received(); err != nil || len(r) != 1 || r[0].tls != tt.wantTLS {
				t.Fatalf("Send: %v; received %+v, want tls=%v", err, r, tt.wantTLS)
			}
		})
	}
}

// A body without markup goes out as plain text only.
func TestPlainTextBody(t *testing.T) {
	srv := startSMTPD(t, &smtpd{})
	e := newEmail(t, fmt.Sprintf("host: 127.0.0.1\nport: %d\nsender: p@example.com\nrecipients: [x@example.org]", srv.port()))
	if _, err := e.Send(context.Background(), action.Message{Title: "t", Body: "2 critical & 1 high\nsee https://aqua/x"}); err != nil {
		t.Fatal(err)
	}
	p := parse(t, srv.received()[0].data)
	if p.ctype != "text/plain" || strings.TrimSpace(p.text) != "2 critical & 1 high\nsee https://aqua/x" || p.html != "" {
		t.Fatalf("%+v", p)
	}
}
