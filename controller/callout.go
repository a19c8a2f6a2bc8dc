package controller

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/postee-fleet/posteed/agent/logx"
	"github.com/postee-fleet/posteed/agent/transport"
	"github.com/postee-fleet/posteed/controller/natsd"
)

// On an existing cluster the servers know no runner: every connection but
// the controllers' own (auth_users) is handed to the controllers' auth
// callout, which answers with a user of the RUNNERS account named by the
// client's verified certificate and holding exactly the permissions the
// embedded server gives that runner. The servers check the answer's
// signature against the issuer key of the fragment nats-config prints.

// authCalloutSubject is where the servers ask (in the POSTEED account).
const authCalloutSubject = "$SYS.REQ.USER.AUTH"

// callout answers the servers' authorization requests.
type callout struct {
	issuer   nkeys.KeyPair // the account key the servers trust for callout answers
	admitted func(runner string, hosts []string)
	log      *slog.Logger
}

// serveAuthCallout subscribes the answering service (one controller of the
// queue group answers each request).
func (f *fleet) serveAuthCallout() error {
	kp, err := loadIssuer(f.d.Settings)
	if err != nil {
		return err
	}
	co := &callout{issuer: kp, admitted: f.admitted, log: f.log.With("component", "auth-callout")}
	if _, err := f.bus.nc.QueueSubscribe(authCalloutSubject, queueGroup, co.serve); err != nil {
		return fmt.Errorf("auth callout: %w", err)
	}
	return nil
}

func loadIssuer(s Settings) (nkeys.KeyPair, error) {
	path, err := s.natsSeed(s.NATSIssuerSeed)
	if err != nil {
		return nil, fmt.Errorf("nats-issuer-seed: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats-issuer-seed: %w (posteed-controller nats-config creates it)", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("nats-issuer-seed %s: %w", path, err)
	}
	if seed, err := kp.Seed(); err != nil || len(seed) < 2 || seed[1] != 'A' {
		return nil, fmt.Errorf("nats-issuer-seed %s: not an account nkey seed (SA...)", path)
	}
	return kp, nil
}

func (co *callout) serve(m *nats.Msg) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		co.log.Warn("auth callout request unreadable", logx.Err(err))
		return // the server times the client out
	}
	runner, hosts, err := identify(req)
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	if err == nil {
		resp.Jwt, err = co.user(req.UserNkey, runner)
	}
	if err != nil {
		co.log.Warn("nats connection refused", "remote", req.ClientInformation.Host,
			"server", req.Server.Name, logx.Err(err))
		resp.Error = err.Error()
	}
	token, err := resp.Encode(co.issuer)
	if err != nil {
		co.log.Warn("auth callout answer not signed", logx.Err(err))
		return
	}
	if err := m.Respond([]byte(token)); err != nil {
		co.log.Warn("auth callout answer not sent", logx.Err(err))
		return
	}
	if runner != "" && resp.Error == "" {
		go co.admitted(runner, hosts)
	}
}

// identify names the runner of a connection by its verified client
// certificate, the only identity accepted on a cluster.
func identify(req *jwt.AuthorizationRequestClaims) (runner string, hosts []string, err error) {
	if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 || len(req.TLS.VerifiedChains[0]) == 0 {
		return "", nil, errors.New("no verified client certificate: give the servers' tls block verify: true and the runners' CA")
	}
	blk, _ := pem.Decode([]byte(req.TLS.VerifiedChains[0][0]))
	if blk == nil {
		return "", nil, errors.New("client certificate unreadable")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("client certificate: %w", err)
	}
	if natsd.ServerCert(cert) {
		return "", nil, errors.New("a server certificate names no runner: give runners client certificates (posteed-controller certs)")
	}
	name := cert.Subject.CommonName
	if err := transport.ValidName(name); err != nil {
		return "", nil, fmt.Errorf("client certificate CN: %w", err)
	}
	return name, cert.DNSNames, nil
}

// user is the signed user of runner for the connection's nkey: placed in
// RUNNERS (the audience names the account outside operator mode) with the
// runner's allow lists and no implicit right to answer requests.
func (co *callout) user(userNkey, runner string) (string, error) {
	uc := jwt.NewUserClaims(userNkey)
	uc.Name = runner
	uc.Audience = natsd.AccountRunners
	uc.Pub.Allow.Add(transport.PublishAllow(runner)...)
	uc.Sub.Allow.Add(transport.SubscribeAllow(runner)...)
	return uc.Encode(co.issuer)
}
