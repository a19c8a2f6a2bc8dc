package action

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestNetworkTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"wrapped", fmt.Errorf("connect: %w", refused), true},
		{"deadline", context.DeadlineExceeded, true},
		{"conn deadline", os.ErrDeadlineExceeded, true},
		{"peer closed", fmt.Errorf("mail from: %w", io.EOF), true},
		{"closed inside a record", io.ErrUnexpectedEOF, true},
		{"cancelled", context.Canceled, false},
		{"cancelled during a network error", fmt.Errorf("%w: %w", context.Canceled, refused), false},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"host name", fmt.Errorf("tls: %w", x509.HostnameError{Host: "x"}), false},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, false},
		{"certificate inside a net.Error", &net.OpError{Op: "remote error", Err: x509.UnknownAuthorityError{}}, false},
		{"anything else", errors.New("bad config"), false},
	} {
		if got := NetworkTransient(c.err); got != c.want {
			t.Errorf("%s: NetworkTransient(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
