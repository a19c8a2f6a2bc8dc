package email

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpd is a tiny SMTP server for tests: enough of RFC 5321 for an SMTP
// client, with optional STARTTLS and AUTH PLAIN, LOGIN and XOAUTH2.
type smtpd struct {
	ln        net.Listener
	host      string         // the address to listen on; default 127.0.0.1
	tls       *tls.Config    // non-nil: offer STARTTLS
	implicit  *tls.Config    // non-nil: TLS from the first byte
	user      string         // non-empty: offer AUTH and require these
	pass      string         // the password, or the OAuth2 token for XOAUTH2
	mechs     []string       // AUTH mechanisms offered; default PLAIN
	rcptCode  int            // non-zero: answer RCPT with this code
	rcptCodes map[string]int // answer RCPT for these addresses with their code

	// hang, when set, is a command the server never answers (on one
	// connection only): it closes hanging, reads until the client goes,
	// then sends hungUp what ended the read (nil when the client closed).
	hang    string
	hanging chan struct{}
	hungUp  chan error

	// drop, when set, is where the server closes the connection without a
	// word: "greeting" before it, "handshake" on reading the ClientHello
	// (implicit TLS or STARTTLS), "message" after reading and queueing the
	// message but before the reply, else on receiving this verb. It reads
	// all the client sent first, so the client sees a FIN and io.EOF, not
	// a reset.
	drop string

	mu       sync.Mutex
	mail     []received // guarded by mu
	commands []string   // guarded by mu; the verbs received, in order
}

type received struct {
	from   string
	rcpts  []string
	data   string
	tls    bool
	authed bool
	mech   string // the AUTH mechanism that succeeded
}

func startSMTPD(t *testing.T, s *smtpd) *smtpd {
	t.Helper()
	host := s.host
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	if s.hang != "" {
		s.hanging, s.hungUp = make(chan struct{}), make(chan error, 1)
	}
	if s.drop == "handshake" {
		s.tls, s.implicit = cutHandshake(s.tls), cutHandshake(s.implicit)
	}
	if s.implicit != nil {
		ln = tls.NewListener(ln, s.implicit)
	}
	s.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpd) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpd) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mail...)
}

func (s *smtpd) verbs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

func (s *smtpd) record(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, verb)
}

// stall stops answering: it reads whatever comes until the client goes.
func (s *smtpd) stall(c net.Conn) {
	close(s.hanging)
	_, err := io.Copy(io.Discard, c)
	s.hungUp <- err
}

func (s *smtpd) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	var cur received
	_, cur.tls = c.(*tls.Conn)
	if s.drop == "greeting" {
		return
	}
	tp.PrintfLine("220 localhost ESMTP test")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.record(verb)
		if verb == s.hang {
			s.stall(c)
			return
		}
		if verb == s.drop {
			return
		}
		switch verb {
		case "EHLO", "HELO":
			s.ehlo(tp, cur.tls)
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, tp, cur.tls = tc, textproto.NewConn(tc), true
		case "AUTH":
			cur.authed, cur.mech = s.auth(tp, arg), ""
			if cur.authed {
				cur.mech, _, _ = strings.Cut(arg, " ")
			}
		case "MAIL":
			cur.from = addr(arg)
			tp.PrintfLine("250 ok")
		case "RCPT":
			s.rcpt(tp, &cur, arg)
		case "DATA":
			tp.PrintfLine("354 go on")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.data = string(b)
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			if s.drop == "message" {
				return
			}
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok")
		}
	}
}

func (s *smtpd) ehlo(tp *textproto.Conn, secured bool) {
	ext := []string{"localhost", "8BITMIME"}
	if s.tls != nil && !secured {
		ext = append(ext, "STARTTLS")
	}
	if s.user != "" {
		ext = append(ext, "AUTH "+strings.Join(s.offered(), " "))
	}
	for i, e := range ext {
		sep := "-"
		if i == len(ext)-1 {
			sep = " "
		}
		tp.PrintfLine("250%s%s", sep, e)
	}
}

func (s *smtpd) offered() []string {
	if len(s.mechs) == 0 {
		return []string{"PLAIN"}
	}
	return s.mechs
}

// auth runs one AUTH exchange: PLAIN and XOAUTH2 with or without an
// initial response, LOGIN with its two challenges.
func (s *smtpd) auth(tp *textproto.Conn, arg string) bool {
	mech, initial, _ := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	if !slices.Contains(s.offered(), mech) {
		tp.PrintfLine("504 5.5.4 mechanism not offered")
		return false
	}
	ask := func(challenge string) string {
		tp.PrintfLine("334 %s", base64.StdEncoding.EncodeToString([]byte(challenge)))
		line, _ := tp.ReadLine()
		b, _ := base64.StdEncoding.DecodeString(line)
		return string(b)
	}
	given := func() string {
		if initial == "" {
			return ask("")
		}
		b, _ := base64.StdEncoding.DecodeString(initial)
		return string(b)
	}
	var ok bool
	switch mech {
	case "PLAIN":
		ok = given() == "\x00"+s.user+"\x00"+s.pass
	case "LOGIN":
		var user string
		if b, err := base64.StdEncoding.DecodeString(initial); err == nil && initial != "" {
			user = string(b)
		} else {
			user = ask("Username:")
		}
		ok = user == s.user && ask("Password:") == s.pass
	case "XOAUTH2":
		ok = given() == "user="+s.user+"\x01auth=Bearer "+s.pass+"\x01\x01"
		if !ok && ask(`{"status":"401","schemes":"bearer"}`) != "" {
			tp.PrintfLine("501 5.5.2 expected an empty answer to the error challenge")
			return false
		}
	}
	if !ok {
		tp.PrintfLine("535 5.7.8 authentication credentials invalid")
		return false
	}
	tp.PrintfLine("235 ok")
	return true
}

func (s *smtpd) rcpt(tp *textproto.Conn, cur *received, arg string) {
	if code := s.rcptCodes[addr(arg)]; code != 0 {
		tp.PrintfLine("%d mailbox %s unavailable", code, addr(arg))
		return
	}
	if s.rcptCode != 0 {
		tp.PrintfLine("%d mailbox unavailable", s.rcptCode)
		return
	}
	cur.rcpts = append(cur.rcpts, addr(arg))
	tp.PrintfLine("250 ok")
}

func addr(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	a, _, _ = strings.Cut(strings.TrimSpace(a), " ")
	return strings.Trim(a, "<>")
}

// cutHandshake returns cfg for a server that closes the connection once it
// has read the ClientHello, before it answers.
func cutHandshake(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	cut := cfg.Clone()
	cut.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		hello.Conn.Close()
		return nil, errors.New("test server dropped the handshake")
	}
	return cut
}

// selfSigned returns a server config for 127.0.0.1 and 127.0.0.2 and a
// pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
