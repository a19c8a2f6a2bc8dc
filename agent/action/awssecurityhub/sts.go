package awssecurityhub

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// roleProvider fetches temporary credentials for a role from STS:
// AssumeRole, signed with base credentials, or AssumeRoleWithWebIdentity
// with a token file (unsigned: the token is the proof).
type roleProvider struct {
	url       string // the STS endpoint
	region    string
	form      url.Values
	tokenFile string           // web identity: read at each fetch (it rotates)
	base      credentialSource // AssumeRole
	client    *http.Client
}

var _ credentialSource = (*roleProvider)(nil)

func (e awsEnv) webIdentity(tokenFile, role, session, region string, c *http.Client) (credentialSource, error) {
	if role == "" {
		return nil, errors.New("a web identity token file needs a role ARN (AWS_ROLE_ARN or role_arn)")
	}
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "RoleArn": {role}, "RoleSessionName": {sessionName(session)}}
	return e.sts(region, form, c, func(p *roleProvider) { p.tokenFile = tokenFile }), nil
}

func (e awsEnv) assumeRole(base credentialSource, p profile, region string, c *http.Client) (credentialSource, error) {
	if p.get("mfa_serial") != "" {
		return nil, fmt.Errorf("profile %q: mfa_serial needs a code typed by a person", p.name)
	}
	form := url.Values{"Action": {"AssumeRole"}, "RoleArn": {p.get("role_arn")}, "RoleSessionName": {sessionName(p.get("role_session_name"))}}
	if id := p.get("external_id"); id != "" {
		form.Set("ExternalId", id)
	}
	if d := p.get("duration_seconds"); d != "" {
		if _, err := strconv.Atoi(d); err != nil {
			return nil, fmt.Errorf("profile %q: duration_seconds %q is not a number", p.name, d)
		}
		form.Set("DurationSeconds", d)
	}
	return e.sts(region, form, c, func(r *roleProvider) { r.base = newCredentialCache(base, 0) }), nil
}

func (e awsEnv) sts(region string, form url.Values, c *http.Client, with func(*roleProvider)) *roleProvider {
	form.Set("Version", "2011-06-15")
	p := &roleProvider{url: firstOf(e.endpoint("STS"), serviceURL("sts", region)), region: region, form: form, client: c}
	with(p)
	return p
}

// sessionName is the role session's name: the one set, or posteed and a
// timestamp, as the SDK names its own.
func sessionName(set string) string {
	return firstOf(set, "posteed-"+strconv.FormatInt(time.Now().UnixNano(), 10))
}

// Retrieve calls STS.
func (p *roleProvider) Retrieve(ctx context.Context) (credentials, error) {
	req, err := p.request(ctx)
	if err != nil {
		return credentials{}, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return credentials{}, fmt.Errorf("sts %s: %w", p.form.Get("Action"), stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return credentials{}, fmt.Errorf("sts %s: %w", p.form.Get("Action"), err)
	}
	if resp.StatusCode != http.StatusOK {
		return credentials{}, newSTSError(p.form.Get("Action"), resp.StatusCode, body)
	}
	return parseCredentials(p.form.Get("Action"), body)
}

func (p *roleProvider) request(ctx context.Context) (*http.Request, error) {
	form := url.Values{}
	for k, v := range p.form {
		form[k] = v
	}
	if p.tokenFile != "" {
		token, err := os.ReadFile(p.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("web identity token: %w", err)
		}
		form.Set("WebIdentityToken", strings.TrimSpace(string(token)))
	}
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("sts endpoint: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if p.base == nil {
		return req, nil
	}
	creds, err := p.base.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	signV4(req, creds, payloadHash(body), "sts", p.region, time.Now())
	return req, nil
}

// stsCredentials is the Credentials element of AssumeRole's and
// AssumeRoleWithWebIdentity's answers.
type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

func parseCredentials(action string, body []byte) (credentials, error) {
	var out struct {
		Role        stsCredentials `xml:"AssumeRoleResult>Credentials"`
		WebIdentity stsCredentials `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		return credentials{}, fmt.Errorf("sts %s: unreadable answer: %w", action, err)
	}
	c := out.Role
	if c.AccessKeyID == "" {
		c = out.WebIdentity
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return credentials{}, fmt.Errorf("sts %s: no credentials in the answer", action)
	}
	return credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expires: c.Expiration}, nil
}

// stsError is an STS refusal; its status says whether to retry.
type stsError struct {
	action, code, msg string
	status            int
}

func newSTSError(action string, status int, body []byte) *stsError {
	var out struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	_ = xml.Unmarshal(body, &out)
	return &stsError{action: action, status: status, code: firstOf(out.Code, http.StatusText(status)), msg: out.Message}
}

func (e *stsError) Error() string {
	return fmt.Sprintf("sts %s: %d %s: %s", e.action, e.status, e.code, e.msg)
}

// Retryable is what retryable reads: 429 and 5xx, and what STS answers
// with 400 although it passes (throttling, an identity provider it could
// not reach), as the SDK's STS client retried them.
func (e *stsError) Retryable() bool {
	switch e.code {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "IDPCommunicationError":
		return true
	}
	return e.status == http.StatusTooManyRequests || e.status >= 500
}

// stripURL drops the *url.Error wrapper, whose text repeats the URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
