package natsd

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"log/slog"
	"slices"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/transport"
)

// authenticator decides who a connection is and registers it with the
// permissions of that identity. It is read-only after construction.
type authenticator struct {
	secret     []byte
	tls        bool              // the listener speaks TLS
	verify     bool              // client certificates are mandatory and verified
	nkeys      map[string]string // public nkey -> runner name
	shared     string            // Postee's controller-seed-file public key; "" when unset
	insecureNA bool
	log        *slog.Logger
	onRunner   func(name string, hosts []string)
	fleet      *server.Account // the controller's account
	runners    *server.Account // every runner's account
}

// placeIn looks up the accounts users go to (see AccountsConf).
func (a *authenticator) placeIn(ns *server.Server) error {
	var err error
	if a.fleet, err = ns.LookupAccount(AccountFleet); err != nil {
		return fmt.Errorf("nats account %s: %w", AccountFleet, err)
	}
	if a.runners, err = ns.LookupAccount(AccountRunners); err != nil {
		return fmt.Errorf("nats account %s: %w", AccountRunners, err)
	}
	return nil
}

var _ server.Authentication = (*authenticator)(nil)

func newAuthenticator(o Options, tls bool, secret string, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{
		secret:     []byte(secret),
		tls:        tls,
		verify:     tls && o.CAFile != "",
		nkeys:      make(map[string]string, len(o.RunnerNKeys)),
		shared:     o.SharedNKey,
		insecureNA: o.InsecureNoAuth,
		log:        log,
		onRunner:   o.OnRunner,
	}
	for name, pub := range o.RunnerNKeys {
		if err := transport.ValidName(name); err != nil {
			return nil, fmt.Errorf("runner nkeys: %w", err)
		}
		if !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("runner nkeys: %q: not a public user nkey", name)
		}
		if other, dup := a.nkeys[pub]; dup {
			return nil, fmt.Errorf("runner nkeys: %q and %q share one nkey", other, name)
		}
		a.nkeys[pub] = name
	}
	if len(a.nkeys) > 0 && !tls {
		return nil, errors.New("runner nkeys need tls: set the certificate and key")
	}
	if a.shared != "" {
		if !nkeys.IsValidPublicUserKey(a.shared) {
			return nil, errors.New("controller seed: not a user nkey")
		}
		if _, dup := a.nkeys[a.shared]; dup {
			return nil, fmt.Errorf("controller seed: the shared nkey is also runner %q's own", a.nkeys[a.shared])
		}
		if !a.verify {
			return nil, errors.New("controller seed needs controller-ca-root: Postee's shared nkey names no runner, their certificates do")
		}
	}
	return a, nil
}

// warn says at start-up how runners will be authenticated when that is weak.
func (a *authenticator) warn() {
	switch {
	case a.insecureNA:
		a.log.Warn("INSECURE: runners are identified by the user name they claim; any client can act as any runner. Use only for local demos.")
	case !a.tls:
		a.log.Warn("nats tls is not configured: every runner connection will be refused")
	case !a.verify && len(a.nkeys) == 0:
		a.log.Warn("nats tls has no client ca and no runner nkeys: every runner connection will be refused")
	}
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	user, err := a.identify(c)
	if err != nil {
		a.log.Warn("nats connection refused", "remote", remote(c), logx.Err(err))
		return false
	}
	c.RegisterUser(user)
	a.log.Debug("nats connection accepted", "remote", remote(c), "user", user.Username)
	return true
}

func (a *authenticator) identify(c server.ClientAuthentication) (*server.User, error) {
	if inProcess(c) {
		return a.controller(c.GetOpts())
	}
	name, err := a.runnerName(c)
	if err != nil {
		return nil, err
	}
	if err := transport.ValidName(name); err != nil {
		return nil, err
	}
	if a.onRunner != nil {
		go a.onRunner(name, CertHosts(c.GetTLSConnectionState()))
	}
	return &server.User{Username: name, Permissions: Permissions(name), Account: a.runners}, nil
}

// CertHosts are the DNS names of a verified client certificate: the hosts
// its runner may act for.
func CertHosts(st *tls.ConnectionState) []string {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return nil
	}
	return st.PeerCertificates[0].DNSNames
}

// controller admits only the in-process connection made by ConnectController.
func (a *authenticator) controller(o *server.ClientOpts) (*server.User, error) {
	if o.Username != transport.ControllerUser || subtle.ConstantTimeCompare([]byte(o.Password), a.secret) != 1 {
		return nil, errors.New("in-process connection without the controller secret")
	}
	// nil permissions: the controller may publish and subscribe anywhere
	// in the fleet's account.
	return &server.User{Username: transport.ControllerUser, Account: a.fleet}, nil
}

func (a *authenticator) runnerName(c server.ClientAuthentication) (string, error) {
	o := c.GetOpts()
	certName, hasCert := verifiedCN(c)
	switch {
	case o.Nkey != "" && o.Nkey == a.shared:
		// Postee's one seed for every runner proves only that the client
		// holds it; the certificate says which runner it is.
		if err := verifyNonce(c, o); err != nil {
			return "", fmt.Errorf("shared nkey: %w", err)
		}
		if !hasCert {
			return "", errors.New("shared nkey (controller-seed-file) without a verified client certificate: it names no runner")
		}
		return certName, nil
	case o.Nkey != "":
		name, err := a.nkeyName(c, o)
		if err == nil && hasCert && certName != name {
			err = fmt.Errorf("nkey of runner %q with certificate of %q", name, certName)
		}
		return name, err
	case a.shared != "":
		return "", errors.New("controller-seed-file is set: runners must sign with an nkey (runner-seed-file)")
	case hasCert && a.verify:
		return certName, nil
	case a.insecureNA:
		return o.Username, nil
	case !a.tls:
		return "", errors.New("no tls configured, runner identities cannot be verified")
	}
	return "", errors.New("no verified client certificate or nkey")
}

func (a *authenticator) nkeyName(c server.ClientAuthentication, o *server.ClientOpts) (string, error) {
	name, ok := a.nkeys[o.Nkey]
	if !ok {
		return "", fmt.Errorf("unknown nkey %s", o.Nkey)
	}
	if err := verifyNonce(c, o); err != nil {
		return "", fmt.Errorf("nkey of %q: %w", name, err)
	}
	return name, nil
}

// verifyNonce checks the client's signature of the server's nonce with the
// nkey it presents.
func verifyNonce(c server.ClientAuthentication, o *server.ClientOpts) error {
	sig, err := base64.RawURLEncoding.DecodeString(o.Sig)
	if err != nil {
		sig, err = base64.StdEncoding.DecodeString(o.Sig)
	}
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	pub, err := nkeys.FromPublicKey(o.Nkey)
	if err != nil {
		return err
	}
	if err := pub.Verify(c.GetNonce(), sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// verifiedCN is the common name of a client certificate that the TLS
// handshake verified against the CA.
func verifiedCN(c server.ClientAuthentication) (string, bool) {
	st := c.GetTLSConnectionState()
	if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 || ServerCert(st.PeerCertificates[0]) {
		return "", false
	}
	return st.PeerCertificates[0].Subject.CommonName, true
}

// ServerCert reports a certificate issued for servers (the controller's, a
// NATS server's): it also works as a client certificate, for cluster
// routes and controllers joining a cluster, but names no runner.
func ServerCert(c *x509.Certificate) bool {
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
}

// inProcess reports a connection made through Server.InProcessConn: its
// transport is a net.Pipe, which no network client can produce.
func inProcess(c server.ClientAuthentication) bool {
	addr := c.RemoteAddress()
	return addr != nil && addr.Network() == "pipe"
}

func remote(c server.ClientAuthentication) string {
	if addr := c.RemoteAddress(); addr != nil {
		return addr.String()
	}
	return ""
}

// Permissions are runner's: the transport allow lists, everything else
// denied, and no implicit permission to answer requests.
func Permissions(runner string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: transport.PublishAllow(runner)},
		Subscribe: &server.SubjectPermission{Allow: transport.SubscribeAllow(runner)},
	}
}
