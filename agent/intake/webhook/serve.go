package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
)

// Server serves the intake handler on an HTTP and/or an HTTPS listener.
type Server struct {
	srv       *http.Server
	listeners []net.Listener
	tls       []bool
	closed    chan struct{} // closed by Shutdown
	closeOnce sync.Once
}

// NewServer prepares h on httpLn and httpsLn (either may be nil); cert is
// required with httpsLn.
func NewServer(h http.Handler, httpLn, httpsLn net.Listener, cert *tls.Certificate, opts ...ServerOption) *Server {
	s := &Server{closed: make(chan struct{}), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}}
	if httpLn != nil {
		s.listeners, s.tls = append(s.listeners, httpLn), append(s.tls, false)
	}
	if httpsLn != nil {
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
		for _, o := range opts {
			o(s.srv.TLSConfig)
		}
		s.listeners, s.tls = append(s.listeners, httpsLn), append(s.tls, true)
	}
	return s
}

// Serve runs until Shutdown, also without any listener (a daemon whose
// intake is off); it returns the first serving error, nil after Shutdown.
func (s *Server) Serve() error {
	if len(s.listeners) == 0 {
		<-s.closed
		return nil
	}
	errc := make(chan error, len(s.listeners))
	for i, ln := range s.listeners {
		go func() {
			var err error
			if s.tls[i] {
				err = s.srv.ServeTLS(ln, "", "")
			} else {
				err = s.srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var first error
	for range s.listeners {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Shutdown stops accepting and waits for requests in flight, up to ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closed) })
	return s.srv.Shutdown(ctx)
}

// LoadOrCreateCert returns the certificate from certFile/keyFile when given,
// otherwise a self-signed one generated once into dir and reused afterwards.
func LoadOrCreateCert(certFile, keyFile, dir string) (*tls.Certificate, error) {
	if certFile != "" || keyFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load https certificate: %w", err)
		}
		return &c, nil
	}
	certFile, keyFile = filepath.Join(dir, "https-selfsigned.crt"), filepath.Join(dir, "https-selfsigned.key")
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		return &c, nil
	}
	ca, err := pki.NewCA("posteed self-signed https")
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	certPEM, keyPEM, err := ca.Issue(pki.Server, host, []string{host, "localhost", "127.0.0.1", "::1"}, 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := pki.WritePair(dir, "https-selfsigned", certPEM, keyPEM); err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &c, nil
}
