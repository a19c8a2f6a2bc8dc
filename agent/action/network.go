package action

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
)

// NetworkTransient reports whether a failure to reach or talk to a server
// may pass: network trouble, a deadline, a connection the peer closed
// (io.EOF, or io.ErrUnexpectedEOF inside a TLS record: crypto/tls reports
// a handshake cut short as one of these). A cancellation and a certificate
// we refused do not pass, however often we try. Protocol replies (HTTP
// statuses, SMTP codes) are the caller's to classify first.
func NetworkTransient(err error) bool {
	if errors.Is(err, context.Canceled) || certificateRefused(err) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func certificateRefused(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}
