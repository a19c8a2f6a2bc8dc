package email

import (
	"context"
	"errors"
	"net"
	"net/smtp"
	"slices"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
)

// Every mechanism's failure is permanent and names the server's reply;
// the password never shows in the error.
func TestAuthRefused(t *testing.T) {
	cfg, pool := selfSigned(t)
	tests := []struct {
		name    string
		offered []string
		auth    string
		wantErr string
	}{
		{"plain, wrong password", []string{"PLAIN", "LOGIN"}, "plain", "535"},
		{"login, wrong password", []string{"PLAIN", "LOGIN"}, "login", "535"},
		{"xoauth2, wrong token", []string{"XOAUTH2"}, "xoauth2", "535"},
		{"auto, wrong password", []string{"LOGIN"}, "auto", "535"},
		{"auto, neither plain nor login", []string{"XOAUTH2", "CRAM-MD5"}, "auto", "AUTH LOGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, &smtpd{tls: cfg, user: "u@example.com", pass: "right", mechs: tt.offered})
			to := relayTo(srv)
			to.starttls, to.rootCAs = "mandatory", pool
			to.auth, to.user, to.password = tt.auth, "u@example.com", "sekret-wrong"
			err := deliver(context.Background(), to, testMessage(t, "x@example.org"))
			if err == nil || retryable(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("deliver = %v; want a permanent error naming %q", err, tt.wantErr)
			}
			if len(srv.received()) != 0 {
				t.Fatal("a message was accepted without authentication")
			}
			noSecret(t, err, "sekret-wrong")
		})
	}
}

// Credentials go only over TLS or to a relay on this host, whatever the
// mechanism and the STARTTLS policy (README: starttls none is "refused
// with a password unless the relay is on localhost").
func TestCredentialsNeverInClearText(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 stands for a remote host here and cannot be bound: %v", err)
	}
	probe.Close()
	cfg, pool := selfSigned(t)
	tests := []struct {
		name     string
		host     string
		offerTLS bool
		starttls string
		auth     string
		wantSent bool // authenticated and sent, rather than refused before AUTH
		wantTLS  bool // sent over TLS
	}{
		{"plain, remote, no STARTTLS", "127.0.0.2", false, "opportunistic", "plain", false, false},
		{"login, remote, no STARTTLS", "127.0.0.2", false, "opportunistic", "login", false, false},
		{"xoauth2, remote, no STARTTLS", "127.0.0.2", false, "opportunistic", "xoauth2", false, false},
		{"auto, remote, no STARTTLS", "127.0.0.2", false, "opportunistic", "auto", false, false},
		{"remote with STARTTLS", "127.0.0.2", true, "opportunistic", "plain", true, true},
		{"localhost without STARTTLS", "127.0.0.1", false, "opportunistic", "login", true, false},
		{"localhost, starttls none", "127.0.0.1", true, "none", "plain", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &smtpd{host: tt.host, user: "u@example.com", pass: "sekret-pw", mechs: []string{"PLAIN", "LOGIN", "XOAUTH2"}}
			if tt.offerTLS {
				s.tls = cfg
			}
			srv := startSMTPD(t, s)
			to := relayTo(srv)
			to.starttls, to.rootCAs = tt.starttls, pool
			to.auth, to.user, to.password = tt.auth, "u@example.com", "sekret-pw"
			err := deliver(context.Background(), to, testMessage(t, "x@example.org"))
			if !tt.wantSent {
				if err == nil || retryable(err) || !errors.Is(err, action.ErrPermanent) || slices.Contains(srv.verbs(), "AUTH") {
					t.Fatalf("deliver = %v, commands %v; want a permanent error before AUTH", err, srv.verbs())
				}
				noSecret(t, err, "sekret-pw")
				return
			}
			if r := srv.received(); err != nil || len(r) != 1 || !r[0].authed || r[0].tls != tt.wantTLS {
				t.Fatalf("deliver = %v, received %+v; want one authenticated message, tls=%v", err, r, tt.wantTLS)
			}
		})
	}
}

// LOGIN answers the user name and the password, whatever the challenges
// say, and gives up on a third.
func TestLoginAuthChallenges(t *testing.T) {
	a := &loginAuth{user: "u", password: "sekret"}
	if mech, initial, err := a.Start(&smtp.ServerInfo{Name: "smtp.example.com", TLS: true}); mech != "LOGIN" || initial != nil || err != nil {
		t.Fatalf("Start = %q, %q, %v", mech, initial, err)
	}
	for i, want := range []string{"u", "sekret"} {
		got, err := a.Next([]byte("whatever"), true)
		if err != nil || string(got) != want {
			t.Fatalf("answer %d = %q, %v; want %q", i+1, got, err, want)
		}
	}
	if _, err := a.Next([]byte("again?"), true); err == nil {
		t.Fatal("a third challenge was answered")
	} else {
		noSecret(t, err, "sekret")
	}
	if got, err := a.Next([]byte("ok"), false); got != nil || err != nil {
		t.Fatalf("after success Next = %q, %v", got, err)
	}
}
