package awssecurityhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action/httpx"
)

const (
	imdsIPv4Endpoint = "http://169.254.169.254"
	imdsIPv6Endpoint = "http://[fd00:ec2::254]"
	imdsTokenPath    = "/latest/api/token"
	imdsRolesPath    = "/latest/meta-data/iam/security-credentials/"
	// imdsTokenTTL is the session token's life, in seconds. The SDK asks
	// for 21600 (6 hours) and keeps its token; we ask for one at each
	// fetch (hourly at most) and use it only for the two GETs that follow,
	// so 5 minutes is plenty, and a token that leaks is soon worthless.
	imdsTokenTTL = "300"
	// instanceCredentialLife caps how long instance credentials are kept,
	// as the SDK caps them, so they are fetched at least hourly.
	instanceCredentialLife = time.Hour
)

// instanceRole fetches the EC2 instance role's credentials from the
// instance metadata service, IMDSv2: a session token (PUT), the role's
// name, then its credentials (GETs with the token).
type instanceRole struct {
	endpoint string // scheme and host: the override, or the IPv4 or IPv6 address
	// v1 allows going on without a token when the service gives none
	// (IMDSv1), as the SDK does unless AWS_EC2_METADATA_V1_DISABLED.
	v1     bool
	client *http.Client
	now    func() time.Time
}

// instance is the EC2 instance role, unless AWS_EC2_METADATA_DISABLED is
// true.
func (e awsEnv) instance() credentialSource {
	if strings.EqualFold(e.get("AWS_EC2_METADATA_DISABLED"), "true") {
		return sourceFunc(func(context.Context) (credentials, error) {
			return credentials{}, errors.New("no AWS credentials: none in the environment or the profile, and AWS_EC2_METADATA_DISABLED is true")
		})
	}
	endpoint := imdsIPv4Endpoint
	if strings.EqualFold(e.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"), "IPv6") {
		endpoint = imdsIPv6Endpoint
	}
	return &instanceRole{
		endpoint: firstOf(e.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"), endpoint),
		v1:       !strings.EqualFold(e.get("AWS_EC2_METADATA_V1_DISABLED"), "true"),
		client:   imdsClient(),
		now:      time.Now,
	}
}

// imdsClient fails fast off EC2, where nothing answers, as the SDK's IMDS
// client does. Its connections to the one host are few and short-lived.
// It never uses a proxy: a proxy would see the session token and the
// credentials, and the service is link-local, for this instance only.
func imdsClient() *http.Client {
	d := &net.Dialer{Timeout: time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: 2 * time.Second,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       30 * time.Second,
	}}
}

// Retrieve fetches the credentials of the instance's first role.
func (r *instanceRole) Retrieve(ctx context.Context) (credentials, error) {
	token, err := r.token(ctx)
	if err != nil {
		return credentials{}, fmt.Errorf("instance role: %w", err)
	}
	list, err := r.get(ctx, token, imdsRolesPath)
	if err != nil {
		return credentials{}, fmt.Errorf("instance role: no role found: %w", err)
	}
	role, _, _ := strings.Cut(strings.TrimSpace(string(list)), "\n")
	if role = strings.TrimSpace(role); role == "" {
		return credentials{}, errors.New("instance role: the instance has no role")
	}
	body, err := r.get(ctx, token, imdsRolesPath+role) // request escapes it
	if err != nil {
		return credentials{}, fmt.Errorf("instance role %q: %w", role, err)
	}
	return r.parse(role, body)
}

// token is a session token; "" when IMDSv1 is allowed and the service
// gives none: it refuses the PUT (403, 404, 405: IMDSv1 only), or does not
// answer it (a container whose hop limit drops the answer), the cases in
// which the SDK goes on without one. Other refusals (400, 429, 5xx) are
// errors, retried or not as their status says.
//
// An empty token in a 200 is an error, retried, even when IMDSv1 is
// allowed: the service said it speaks IMDSv2 and then failed to, which is
// trouble on its side (or something else answering on its address), not
// the IMDSv1-only refusal the fallback is for. Going on without a token
// then would send the GETs unauthenticated to whatever answered.
func (r *instanceRole) token(ctx context.Context) (string, error) {
	req, err := r.request(ctx, http.MethodPut, imdsTokenPath)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", imdsTokenTTL)
	body, err := fetch(ctx, r.client, req)
	if err == nil && strings.TrimSpace(string(body)) == "" {
		return "", &credentialError{err: errors.New("session token: the service answered with an empty token"), retry: true}
	}
	if err == nil {
		return string(body), nil
	}
	var se *httpx.StatusError
	noToken := !errors.As(err, &se) || se.Code == http.StatusForbidden || se.Code == http.StatusNotFound || se.Code == http.StatusMethodNotAllowed
	if !r.v1 || !noToken || ctx.Err() != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	return "", nil
}

func (r *instanceRole) get(ctx context.Context, token, path string) ([]byte, error) {
	req, err := r.request(ctx, http.MethodGet, path)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("X-Aws-Ec2-Metadata-Token", token)
	}
	return fetch(ctx, r.client, req)
}

// request is a request for path (unescaped: a role's name as it is) on the
// endpoint, whose own path, if any, path replaces, as in the SDK.
func (r *instanceRole) request(ctx context.Context, method, path string) (*http.Request, error) {
	u, err := url.Parse(r.endpoint)
	if err != nil || u.Host == "" {
		return nil, errors.New("AWS_EC2_METADATA_SERVICE_ENDPOINT is not a URL")
	}
	u.Path, u.RawPath = path, ""
	return http.NewRequestWithContext(ctx, method, u.String(), nil)
}

// parse reads a role's credentials; they are kept an hour at most.
func (r *instanceRole) parse(role string, body []byte) (credentials, error) {
	var out credentialsJSON
	if err := json.Unmarshal(body, &out); err != nil {
		return credentials{}, fmt.Errorf("instance role %q: the answer is not JSON credentials", role)
	}
	if !strings.EqualFold(out.Code, "Success") {
		return credentials{}, fmt.Errorf("instance role %q: %s: %s", role, out.Code, out.Message)
	}
	c := out.keys()
	if !c.valid() {
		return credentials{}, fmt.Errorf("instance role %q: no AccessKeyId or SecretAccessKey in the answer", role)
	}
	if limit := r.now().Add(instanceCredentialLife); c.Expires.IsZero() || c.Expires.After(limit) {
		c.Expires = limit
	}
	return c, nil
}

var _ renewPolicy = (*instanceRole)(nil)

// renewAt uses credentials that expire within 15 minutes to the end, as
// the SDK does for the instance role, rather than asking the service again
// on every request.
func (r *instanceRole) renewAt(c credentials, window time.Duration, now time.Time) time.Time {
	if c.Expires.Before(now.Add(15 * time.Minute)) {
		return c.Expires
	}
	return c.Expires.Add(-window)
}

// keepStale keeps the last credentials 5 to 15 minutes more when the
// metadata service fails, as the SDK does, so that a brief outage of the
// service does not fail every import; it is asked again after that. Unlike
// the SDK, never past their expiry: Security Hub refuses expired
// credentials with a 403, which would drop the findings.
func (r *instanceRole) keepStale(prev credentials, now time.Time) (time.Time, bool) {
	if !prev.valid() || expired(prev, now) {
		return time.Time{}, false
	}
	until := now.Add(5*time.Minute + rand.N(10*time.Minute))
	if !prev.Expires.IsZero() && prev.Expires.Before(until) {
		until = prev.Expires
	}
	return until, true
}

// outage says since when the role's credentials could not be fetched
// again, and why; retried, since the service may come back.
func (r *instanceRole) outage(since time.Time, err error) error {
	return &credentialError{err: fmt.Errorf("instance metadata unreachable since %s: %w", since.UTC().Format(time.RFC3339), err), retry: true}
}
