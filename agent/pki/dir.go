package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// CACommonName is the subject of the CA OpenCA makes.
const CACommonName = "posteed CA"

// OpenCA returns dir's CA (ca.crt and ca.key), making and writing one
// when dir has neither. created says which happened. It never replaces a CA:
// every certificate issued before would stop verifying. A directory with
// only one of the two files is an error.
func OpenCA(dir string) (ca *CA, created bool, err error) {
	crt, key := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	hasCrt, err := exists(crt)
	if err != nil {
		return nil, false, err
	}
	hasKey, err := exists(key)
	if err != nil {
		return nil, false, err
	}
	switch {
	case hasCrt && hasKey:
		ca, err := LoadCA(crt, key)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", dir, err)
		}
		return ca, false, nil
	case hasCrt || hasKey:
		return nil, false, fmt.Errorf("%s has %s without %s: restore the missing file, or move both away to make a new CA (runners then need new certificates)",
			dir, present(hasCrt, CACertFile, CAKeyFile), present(hasCrt, CAKeyFile, CACertFile))
	}
	ca, err = NewCA(CACommonName)
	if err != nil {
		return nil, false, err
	}
	if err := WriteCA(dir, ca); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

func present(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// PairExists reports whether dir holds name.crt or name.key.
func PairExists(dir, name string) (bool, error) {
	for _, ext := range []string{".crt", ".key"} {
		ok, err := exists(filepath.Join(dir, name+ext))
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

var dnsName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)
}) // compiled on first use (90 KB)

// ValidHost checks a subject alternative name: an IP address or a DNS name.
func ValidHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 || !dnsName().MatchString(h) {
		return fmt.Errorf("host %q is neither an IP address nor a DNS name", h)
	}
	return nil
}
