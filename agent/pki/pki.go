// Package pki issues the certificates of the controller/runner channel: a
// small dev CA, one server certificate for the controller and one client
// certificate per runner whose common name is the runner's name.
//
// Roles are kept apart by extended key usage: a server certificate carries
// only serverAuth and a client certificate only clientAuth, so the
// controller's certificate cannot be replayed as a runner identity.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Kind is the role a certificate is issued for.
type Kind int

const (
	// Server certificates authenticate the controller's NATS listener, or
	// the servers of a NATS cluster; they also serve as client
	// certificates: for the cluster's routes between servers, and for a
	// controller joining the cluster.
	Server Kind = iota + 1
	// Client certificates authenticate a runner; CN is its name.
	Client
)

func (k Kind) String() string {
	switch k {
	case Server:
		return "server"
	case Client:
		return "client"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

const (
	// CAValidity is how long a CA made by NewCA lives.
	CAValidity = 10 * 365 * 24 * time.Hour
	// DefaultValidity is used by Issue when validity is 0: a little over a
	// year, the longest browsers accept and a natural rotation cadence.
	DefaultValidity = 397 * 24 * time.Hour
	// clockSkew backdates NotBefore so hosts with slightly slow clocks accept
	// a freshly issued certificate.
	clockSkew = 5 * time.Minute
)

// CA is a certificate authority able to issue certificates.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	keyPEM  []byte
}

// NewCA makes a self-signed ECDSA P-256 CA valid for CAValidity.
func NewCA(commonName string) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("ca common name is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs leaves only, never intermediates.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create ca certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return newCA(pemBlock("CERTIFICATE", der), keyPEM)
}

// CertPEM is the CA certificate, the trust anchor both sides load.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// KeyPEM is the CA private key (PKCS#8).
func (ca *CA) KeyPEM() []byte { return append([]byte(nil), ca.keyPEM...) }

// Certificate is the parsed CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Issue makes a leaf certificate and its key, both PEM encoded. hosts become
// DNS or IP subject alternative names; a server certificate needs at least
// one. validity 0 means DefaultValidity.
func (ca *CA) Issue(kind Kind, cn string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	tmpl, err := leafTemplate(kind, cn, hosts, validity)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", kind, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s certificate %q: %w", kind, cn, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), keyPEM, nil
}

func leafTemplate(kind Kind, cn string, hosts []string, validity time.Duration) (*x509.Certificate, error) {
	if cn == "" {
		return nil, errors.New("certificate common name is empty")
	}
	var eku []x509.ExtKeyUsage
	switch kind {
	case Server:
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if len(hosts) == 0 {
			return nil, fmt.Errorf("server certificate %q needs at least one host", cn)
		}
	case Client:
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("unknown certificate kind %d", int(kind))
	}
	if validity <= 0 {
		validity = DefaultValidity
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if err := ValidHost(h); err != nil {
			return nil, fmt.Errorf("certificate %q: %w", cn, err)
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
