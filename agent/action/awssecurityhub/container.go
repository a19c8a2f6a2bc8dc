package awssecurityhub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/action/httpx"
)

// ecsHost is the ECS agent's address, where
// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points.
const ecsHost = "169.254.170.2"

// resolveTimeout bounds the DNS lookup of a FULL_URI's host at startup.
const resolveTimeout = 5 * time.Second

// containerSource fetches credentials from the container's credentials
// endpoint: the ECS agent (task roles) or the EKS Pod Identity agent.
type containerSource struct {
	url       string
	token     string // AWS_CONTAINER_AUTHORIZATION_TOKEN
	tokenFile string // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, over token: read at each fetch (it rotates)
	client    *http.Client
}

// container is the container credentials endpoint the environment names
// (ECS task roles, EKS Pod Identity); ok is false when it names none. Its
// client has the action's timeout but not its proxy (containerClient).
func (e awsEnv) container(timeout time.Duration) (src credentialSource, ok bool, err error) {
	u := e.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	if rel := e.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		if u, err = ecsURL(rel); err != nil {
			return nil, true, err
		}
	} else if u == "" {
		return nil, false, nil
	} else if err := containerHostAllowed(u, net.DefaultResolver.LookupHost); err != nil {
		return nil, true, err
	}
	return &containerSource{url: u, token: e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
		tokenFile: e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), client: containerClient(timeout)}, true, nil
}

// ecsURL is the ECS agent's URL for a relative URI: a path, and maybe a
// query, on 169.254.170.2 and nowhere else. Pasted after the address, as
// the SDK does, "@evil.example/x" would have sent the authorization token
// to evil.example. The value is not quoted in the errors: its path is the
// task's credentials ID.
func ecsURL(rel string) (string, error) {
	if !strings.HasPrefix(rel, "/") || strings.HasPrefix(rel, "//") {
		return "", errors.New(`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a path starting with "/"`)
	}
	if strings.ContainsFunc(rel, func(r rune) bool { return r == '#' || r <= ' ' || r == 0x7f }) {
		return "", errors.New(`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI has a "#", a space or a control character`)
	}
	rawPath, query, _ := strings.Cut(rel, "?")
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return "", errors.New("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI has a bad %-escape")
	}
	u := (&url.URL{Scheme: "http", Host: ecsHost, Path: path, RawPath: rawPath, RawQuery: query}).String()
	if back, err := url.Parse(u); err != nil || back.Host != ecsHost {
		return "", errors.New("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI does not make a URL on " + ecsHost)
	}
	return u, nil
}

// containerClient is the container endpoint's own client: the action's
// timeout and TLS verification, but never a proxy, which would see the
// authorization token and the credentials (the endpoint is this host or
// the agent's link-local address, or one the operator named: the proxy is
// for Security Hub and STS), and a small pool for the one host.
func containerClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = httpx.DefaultTimeout
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// containerHostAllowed refuses a plain-HTTP credentials URL off this host
// and the ECS and EKS agents' addresses, as the SDK does. A host name is
// looked up, for resolveTimeout at most: New must not hang on DNS.
func containerHostAllowed(raw string, lookup func(context.Context, string) ([]string, error)) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL")
	}
	if u.Scheme != "http" {
		return nil
	}
	addrs := []string{u.Hostname()}
	if net.ParseIP(u.Hostname()) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		if addrs, err = lookup(ctx, u.Hostname()); err != nil {
			return fmt.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI: %w", err)
		}
	}
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() && a != ecsHost && a != "169.254.170.23" && !ip.Equal(net.ParseIP("fd00:ec2::23")) {
			return fmt.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI: plain HTTP only to this host or the ECS/EKS agent, not %s", u.Hostname())
		}
	}
	return nil
}

// Retrieve GETs the endpoint, with the authorization token if there is
// one.
func (s *containerSource) Retrieve(ctx context.Context) (credentials, error) {
	token, err := s.authorization()
	if err != nil {
		return credentials{}, fmt.Errorf("container credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return credentials{}, errors.New("container credentials: the endpoint is not a URL")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	body, err := fetch(ctx, s.client, req)
	if err != nil {
		return credentials{}, fmt.Errorf("container credentials: %w", err)
	}
	return parseContainerCredentials(body)
}

func (s *containerSource) authorization() (string, error) {
	token := s.token
	if s.tokenFile != "" {
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return "", fmt.Errorf("authorization token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if strings.ContainsAny(token, "\r\n") {
		return "", errors.New("the authorization token has a line break")
	}
	return token, nil
}

// parseContainerCredentials reads the endpoint's answer; without an
// Expiration, the keys do not expire.
func parseContainerCredentials(body []byte) (credentials, error) {
	var out credentialsJSON
	if err := json.Unmarshal(body, &out); err != nil {
		return credentials{}, errors.New("container credentials: the answer is not JSON credentials")
	}
	c := out.keys()
	if !c.valid() {
		return credentials{}, errors.New("container credentials: no AccessKeyId or SecretAccessKey in the answer")
	}
	return c, nil
}
