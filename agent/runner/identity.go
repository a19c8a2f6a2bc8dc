package runner

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// CheckIdentity fails early when the runner's certificate names another
// runner: the controller knows a runner by its certificate's CN, so the
// runner would only be refused its subjects, with permission errors in its
// log. (The NATS server's permissions, not this check, are what keeps a
// runner from acting as another.)
func CheckIdentity(name, certFile string) error {
	if certFile == "" {
		return nil
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("runner certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return fmt.Errorf("runner certificate %s: no PEM certificate in it", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("runner certificate %s: %w", certFile, err)
	}
	if cn := cert.Subject.CommonName; cn != name {
		return fmt.Errorf("runner certificate %s is for %q, but runner-name is %q: the certificate's CN is the runner's identity", certFile, cn, name)
	}
	return nil
}
