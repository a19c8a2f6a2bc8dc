package webhook

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// ServerOption adjusts the HTTPS listener of a Server.
type ServerOption func(*tls.Config)

// Access says who may post events beyond reaching the port: a bearer
// token, client certificates on HTTPS, both, or neither.
type Access struct {
	Token     string         // required on every event when set
	ClientCAs *x509.CertPool // HTTPS clients need a certificate one of these signed
}

// LoadAccess reads the token from tokenFile and the client CAs from caFile;
// an empty name leaves that check off.
func LoadAccess(tokenFile, caFile string) (Access, error) {
	var a Access
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return a, fmt.Errorf("intake token: %w", err)
		}
		if a.Token = string(bytes.TrimSpace(b)); len(a.Token) < 16 {
			return a, fmt.Errorf("intake token in %s: %d characters, want at least 16 (e.g. openssl rand -hex 32)", tokenFile, len(a.Token))
		}
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return a, fmt.Errorf("intake client CA: %w", err)
		}
		a.ClientCAs = x509.NewCertPool()
		if !a.ClientCAs.AppendCertsFromPEM(b) {
			return a, fmt.Errorf("intake client CA %s: no PEM certificate in it", caFile)
		}
	}
	return a, nil
}

// Open reports whether anyone who reaches the port may post.
func (a Access) Open() bool { return a.Token == "" && a.ClientCAs == nil }

// ServerOptions are the HTTPS settings a's client certificates need.
func (a Access) ServerOptions() []ServerOption {
	if a.ClientCAs == nil {
		return nil
	}
	return []ServerOption{func(c *tls.Config) {
		c.ClientCAs = a.ClientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}}
}

// Exposed reports whether ln takes connections from other hosts: bound to
// an address that is not loopback.
func Exposed(ln net.Listener) bool {
	if ln == nil {
		return false
	}
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && !a.IP.IsLoopback()
}
