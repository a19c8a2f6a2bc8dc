package controller

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/controller/natsd"
)

// NATSConfig is what an existing NATS cluster needs for posteed: the two
// nkey seeds of controller.toml (nats-issuer-seed, nats-user-seed), made
// when missing, and the fragment each server's config includes at its top
// level. Created lists the seed files it wrote.
type NATSConfig struct {
	Fragment string
	Created  []string
	Issuer   string // public account key the servers trust for callout answers
	User     string // public user key of the controllers
}

// MakeNATSConfig creates the missing seeds and renders the fragment.
func MakeNATSConfig(s Settings) (*NATSConfig, error) {
	out := &NATSConfig{}
	issuer, err := ensureSeed(s, s.NATSIssuerSeed, "nats-issuer-seed", nkeys.PrefixByteAccount, out)
	if err != nil {
		return nil, err
	}
	user, err := ensureSeed(s, s.NATSUserSeed, "nats-user-seed", nkeys.PrefixByteUser, out)
	if err != nil {
		return nil, err
	}
	out.Issuer, out.User = issuer, user
	var b strings.Builder
	b.WriteString("# posteed: include at the top level of every NATS server's config\n")
	b.WriteString("# (made by posteed-controller nats-config; the same on every server).\n")
	b.WriteString("# POSTEED holds the controllers and JetStream; RUNNERS holds the runners,\n")
	b.WriteString("# each admitted by the controllers' auth callout by its verified client\n")
	b.WriteString("# certificate. The server's tls {} block must verify client certificates\n")
	b.WriteString("# (verify: true) against the runners' CA.\n")
	b.WriteString(natsd.AccountsConf(fmt.Sprintf("{ nkey: %q }", user)))
	fmt.Fprintf(&b, "authorization {\n  auth_callout {\n    issuer: %q\n    auth_users: [ %q ]\n    account: %s\n  }\n}\n",
		issuer, user, natsd.AccountFleet)
	out.Fragment = b.String()
	return out, nil
}

// ensureSeed reads the seed named in the setting key, or creates it (0600)
// when the file does not exist; it returns the public key.
func ensureSeed(s Settings, name, key string, prefix nkeys.PrefixByte, out *NATSConfig) (string, error) {
	path, err := s.natsSeed(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSeed(path, key, prefix, out)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", key, path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", key, path, err)
	}
	if nkeys.Prefix(pub) != prefix {
		return "", fmt.Errorf("%s %s: a %s key, want a %s key", key, path, kindOf(pub), kindOfPrefix(prefix))
	}
	return pub, nil
}

func createSeed(path, key string, prefix nkeys.PrefixByte, out *NATSConfig) (string, error) {
	kp, err := nkeys.CreatePair(prefix)
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	_, err = f.Write(append(seed, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("%s: %w", key, err)
	}
	out.Created = append(out.Created, path)
	return kp.PublicKey()
}

func kindOf(pub string) string {
	return kindOfPrefix(nkeys.Prefix(pub))
}

func kindOfPrefix(p nkeys.PrefixByte) string {
	switch p {
	case nkeys.PrefixByteAccount:
		return "account"
	case nkeys.PrefixByteUser:
		return "user"
	}
	return p.String()
}
