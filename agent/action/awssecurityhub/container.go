package awssecurityhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ecsEndpoint is where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points.
const ecsEndpoint = "http://169.254.170.2"

// containerSource fetches credentials from the container's credentials
// endpoint: the ECS agent (task roles) or the EKS Pod Identity agent.
type containerSource struct {
	url       string
	token     string // AWS_CONTAINER_AUTHORIZATION_TOKEN
	tokenFile string // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, over token: read at each fetch (it rotates)
	client    *http.Client
}

// container is the container credentials endpoint the environment names
// (ECS task roles, EKS Pod Identity); ok is false when it names none.
func (e awsEnv) container(c *http.Client) (src credentialSource, ok bool, err error) {
	u := e.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	if rel := e.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		u = ecsEndpoint + rel
	} else if u == "" {
		return nil, false, nil
	} else if err := containerHostAllowed(u); err != nil {
		return nil, true, err
	}
	return &containerSource{url: u, token: e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
		tokenFile: e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), client: c}, true, nil
}

// containerHostAllowed refuses a plain-HTTP credentials URL off this host
// and the ECS and EKS agents' addresses, as the SDK does.
func containerHostAllowed(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL")
	}
	if u.Scheme != "http" {
		return nil
	}
	addrs := []string{u.Hostname()}
	if net.ParseIP(u.Hostname()) == nil {
		if addrs, err = net.DefaultResolver.LookupHost(context.Background(), u.Hostname()); err != nil {
			return fmt.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI: %w", err)
		}
	}
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() && a != "169.254.170.2" && a != "169.254.170.23" && !ip.Equal(net.ParseIP("fd00:ec2::23")) {
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
	var out struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		Token           string
		Expiration      *time.Time
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return credentials{}, errors.New("container credentials: the answer is not JSON credentials")
	}
	c := credentials{AccessKeyID: out.AccessKeyID, SecretAccessKey: out.SecretAccessKey, SessionToken: out.Token}
	if out.Expiration != nil {
		c.Expires = *out.Expiration
	}
	if !c.valid() {
		return credentials{}, errors.New("container credentials: no AccessKeyId or SecretAccessKey in the answer")
	}
	return c, nil
}
