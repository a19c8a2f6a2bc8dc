package email

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
)

// relayTo is the server that reaches s, without credentials.
func relayTo(s *smtpd) server {
	host := s.host
	if host == "" {
		host = "127.0.0.1"
	}
	return server{host: host, port: s.port(), helo: "localhost", starttls: "opportunistic"}
}

func testMessage(t *testing.T, to ...string) *message {
	t.Helper()
	msg, err := compose("p@example.com", to, action.Message{Title: "t", Body: "b"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// awaitDeliver runs deliver and fails the test when it is still blocked
// after a few seconds.
func awaitDeliver(t *testing.T, ctx context.Context, srv server, msg *message) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- deliver(ctx, srv, msg) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("deliver still blocked after 5 s")
		return nil
	}
}

// awaitHangUp fails the test unless the client closed its connection to a
// server that stopped answering.
func awaitHangUp(t *testing.T, s *smtpd) {
	t.Helper()
	select {
	case err := <-s.hungUp:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server's read timed out: the client never closed the connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client is still connected 5 s later")
	}
}

// Cancelling the caller's context closes the connection even while the
// client waits for a reply that never comes, and the error is not retried.
func TestDeliverCancelClosesBlockedConnection(t *testing.T) {
	for _, verb := range []string{"EHLO", "MAIL", "DATA"} {
		t.Run(verb, func(t *testing.T) {
			srv := startSMTPD(t, &smtpd{hang: verb})
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			go func() {
				select {
				case <-srv.hanging:
					cancel()
				case <-ctx.Done():
				}
			}()
			err := awaitDeliver(t, ctx, relayTo(srv), testMessage(t, "x@example.org"))
			if err == nil || retryable(err) || !errors.Is(err, context.Canceled) {
				t.Fatalf("deliver = %v (retryable %v); want a cancellation, not retried", err, retryable(err))
			}
			awaitHangUp(t, srv)
		})
	}
}

// The context's deadline bounds the delivery; running out of time is worth
// a retry. Two timers race at the deadline: the context's, which closes
// the connection and marks the error with context.DeadlineExceeded, and
// the connection's own, which fails the read with os.ErrDeadlineExceeded.
// Either proves the deadline ended the delivery; any other network error
// does not.
func TestDeliverDeadline(t *testing.T) {
	srv := startSMTPD(t, &smtpd{hang: "DATA"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := awaitDeliver(t, ctx, relayTo(srv), testMessage(t, "x@example.org"))
	if err == nil || !retryable(err) {
		t.Fatalf("deliver = %v; want a retryable timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deliver = %v; want it ended by the deadline", err)
	}
	awaitHangUp(t, srv)
}

// A server that closes the connection, at whatever stage, may be
// restarting or shedding load: the delivery is retried, not dropped.
func TestDeliverDroppedConnectionIsRetried(t *testing.T) {
	cfg, pool := selfSigned(t)
	tests := []struct {
		name, wantStage string
		srv             *smtpd
	}{
		{"greeting", "greeting: ", &smtpd{drop: "greeting"}},
		{"implicit tls handshake", "tls with ", &smtpd{implicit: cfg, drop: "handshake"}},
		{"ehlo", "ehlo: ", &smtpd{drop: "EHLO"}},
		{"starttls handshake", "starttls: ", &smtpd{tls: cfg, drop: "handshake"}},
		{"auth", "auth: ", &smtpd{tls: cfg, user: "u@example.com", pass: "sekret-pw", drop: "AUTH"}},
		{"mail", "mail from: ", &smtpd{drop: "MAIL"}},
		{"rcpt", "rcpt to ", &smtpd{drop: "RCPT"}},
		{"data", "data: ", &smtpd{drop: "DATA"}},
		// The server read the whole message and may have queued it: the
		// retry may deliver it twice. Delivery is at least once, and a
		// duplicate alert beats a lost one (RFC 1047).
		{"after the message, before the reply", "data: ", &smtpd{drop: "message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, tt.srv)
			to := relayTo(srv)
			to.rootCAs, to.implicit = pool, tt.srv.implicit != nil
			if tt.srv.user != "" {
				to.auth, to.user, to.password = "auto", tt.srv.user, tt.srv.pass
			}
			err := awaitDeliver(t, context.Background(), to, testMessage(t, "x@example.org"))
			if err == nil || !retryable(err) || !strings.HasPrefix(err.Error(), tt.wantStage) {
				t.Fatalf("deliver = %v (retryable %v); want a retryable error from %q", err, retryable(err), tt.wantStage)
			}
			noSecret(t, err, "sekret-pw")
			queued := 0
			if tt.srv.drop == "message" {
				queued = 1
			}
			if n := len(srv.received()); n != queued {
				t.Fatalf("the server queued %d messages, want %d", n, queued)
			}
		})
	}
}

func TestDeliverMandatorySTARTTLSNotOffered(t *testing.T) {
	srv := startSMTPD(t, &smtpd{user: "u@example.com", pass: "sekret-pw"})
	to := relayTo(srv)
	to.starttls, to.auth, to.user, to.password = "mandatory", "auto", "u@example.com", "sekret-pw"
	err := deliver(context.Background(), to, testMessage(t, "x@example.org"))
	if err == nil || retryable(err) || !errors.Is(err, action.ErrPermanent) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("deliver = %v; want a permanent error naming STARTTLS", err)
	}
	if v := srv.verbs(); slices.Contains(v, "AUTH") || slices.Contains(v, "MAIL") {
		t.Fatalf("the client went on without TLS: %v", v)
	}
	noSecret(t, err, "sekret-pw")
}

// A refused recipient stops the whole message. A retry helps only when
// every refusal was temporary; the error names each refused address.
func TestDeliverRecipientRefusals(t *testing.T) {
	tests := []struct {
		name      string
		codes     map[string]int
		wantRetry bool
		wantNamed []string
	}{
		{"one busy mailbox", map[string]int{"b@example.org": 450}, true, []string{"b@example.org: 450"}},
		{"one unknown mailbox", map[string]int{"b@example.org": 550}, false, []string{"b@example.org: 550"}},
		{"busy and unknown", map[string]int{"a@example.org": 452, "c@example.org": 550}, false,
			[]string{"a@example.org: 452", "c@example.org: 550"}},
		{"all busy", map[string]int{"a@example.org": 451, "c@example.org": 452}, true,
			[]string{"a@example.org: 451", "c@example.org: 452"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTPD(t, &smtpd{rcptCodes: tt.codes})
			msg := testMessage(t, "a@example.org", "b@example.org", "c@example.org")
			err := deliver(context.Background(), relayTo(srv), msg)
			if err == nil || retryable(err) != tt.wantRetry {
				t.Fatalf("deliver = %v (retryable %v); want retryable %v", err, retryable(err), tt.wantRetry)
			}
			for _, want := range tt.wantNamed {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if r := srv.received(); len(r) != 0 {
				t.Errorf("the message went to the accepted recipients: %+v", r)
			}
		})
	}
}

// A successful delivery ends with QUIT.
func TestDeliverQuits(t *testing.T) {
	srv := startSMTPD(t, &smtpd{})
	if err := deliver(context.Background(), relayTo(srv), testMessage(t, "x@example.org")); err != nil {
		t.Fatal(err)
	}
	// The server records a command before it replies, and the client
	// waits for the reply to QUIT.
	want := []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}
	if got := srv.verbs(); !slices.Equal(got, want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
}
