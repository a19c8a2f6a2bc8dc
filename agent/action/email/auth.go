package email

import (
	"errors"
	"fmt"
	"net/smtp"
	"slices"
	"strings"

	"github.com/postee-fleet/posteed/agent/action"
)

// authenticate logs in when srv has credentials. They travel only over TLS
// or to a relay on this host, whatever the mechanism: a server that offers
// no STARTTLS, or an attacker who removed it from the reply, never sees
// them. Config.validate already refuses starttls none with a password for
// any other host.
func (srv server) authenticate(c *smtp.Client) error {
	if srv.auth == "" {
		return nil
	}
	if _, encrypted := c.TLSConnectionState(); !encrypted && !localhost(srv.host) {
		return fmt.Errorf("%s offers no STARTTLS: refusing to send credentials in clear text: %w", srv.host, action.ErrPermanent)
	}
	a, err := srv.mechanism(c)
	if err != nil {
		return err
	}
	if err := c.Auth(a); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// mechanism picks the configured mechanism, or for "auto" PLAIN when the
// server offers it and LOGIN otherwise.
func (srv server) mechanism(c *smtp.Client) (smtp.Auth, error) {
	ok, list := c.Extension("AUTH")
	if !ok {
		return nil, fmt.Errorf("credentials are configured but %s does not offer AUTH: %w", srv.host, action.ErrPermanent)
	}
	offered := strings.Fields(strings.ToUpper(list))
	want := strings.ToUpper(srv.auth)
	if srv.auth == "auto" {
		want = "PLAIN"
		if !slices.Contains(offered, want) {
			want = "LOGIN"
		}
	}
	if !slices.Contains(offered, want) {
		return nil, fmt.Errorf("%s does not offer AUTH %s (it offers %s): %w", srv.host, want, list, action.ErrPermanent)
	}
	switch want {
	case "PLAIN":
		return smtp.PlainAuth("", srv.user, srv.password, srv.host), nil
	case "LOGIN":
		return &loginAuth{user: srv.user, password: srv.password}, nil
	default:
		return &xoauth2Auth{user: srv.user, token: srv.password}, nil
	}
}

// loginAuth is AUTH LOGIN, which Microsoft 365 wants: the user name, then
// the password, each in answer to a challenge. Servers word the challenges
// differently, so only their order counts.
type loginAuth struct {
	user, password string
	answered       int
}

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	a.answered = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.answered++
	switch a.answered {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.password), nil
	}
	return nil, errors.New("auth login: a third challenge after user and password")
}

// xoauth2Auth is XOAUTH2 (Google, Microsoft): the user and an OAuth2 access
// token in the initial response. A server refusing the token sends a JSON
// challenge and gives its error reply after an empty answer.
type xoauth2Auth struct {
	user, token string
}

func (a *xoauth2Auth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

func (a *xoauth2Auth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return []byte{}, nil
	}
	return nil, nil
}
