package awssecurityhub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/postee-fleet/posteed/agent/action/httpx"
)

// credentials are AWS keys; Expires is zero for keys that do not expire.
type credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expires         time.Time
}

func (c credentials) valid() bool { return c.AccessKeyID != "" && c.SecretAccessKey != "" }

// credentialsJSON is the answer of credential_process, the container
// endpoint and the instance role: the same keys, the session token named
// SessionToken by the first and Token by the others.
type credentialsJSON struct {
	Version         int    // credential_process
	Code, Message   string // the instance role
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Token           string
	Expiration      *time.Time // none: the keys do not expire
}

func (j credentialsJSON) keys() credentials {
	c := credentials{AccessKeyID: j.AccessKeyID, SecretAccessKey: j.SecretAccessKey, SessionToken: firstOf(j.SessionToken, j.Token)}
	if j.Expiration != nil {
		c.Expires = *j.Expiration
	}
	return c
}

// credentialSource is one provider of the chain: keys, a process, an
// endpoint, STS.
type credentialSource interface {
	Retrieve(ctx context.Context) (credentials, error)
}

// staticKeys are keys given in the environment or a profile.
type staticKeys credentials

func (k staticKeys) Retrieve(context.Context) (credentials, error) {
	if !credentials(k).valid() {
		return credentials{}, errors.New("no AWS access key ID or secret access key in the environment")
	}
	return credentials(k), nil
}

// sourceFunc is a source made of a function.
type sourceFunc func(context.Context) (credentials, error)

func (f sourceFunc) Retrieve(ctx context.Context) (credentials, error) { return f(ctx) }

// refreshWindow is how long before they expire credentials are fetched
// again, as the SDK's config loader sets it.
const refreshWindow = 5 * time.Minute

// credentials picks where credentials come from, in the AWS SDK's order:
// keys in the environment; a web identity token in the environment (EKS
// IAM roles for service accounts); the profile p (fromProfile). They are
// cached and fetched again before they expire.
func (e awsEnv) credentials(p profile, region string, c *http.Client) (credentialSource, error) {
	var src credentialSource
	var err error
	switch {
	case e.hasKeys():
		src = e.keys()
	case e.get("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
		src, err = e.webIdentity(e.get("AWS_WEB_IDENTITY_TOKEN_FILE"), e.get("AWS_ROLE_ARN"), e.get("AWS_ROLE_SESSION_NAME"), region, c)
	default:
		src, err = e.fromProfile(p, region, c, 0)
	}
	if err != nil {
		return nil, err
	}
	return newCredentialCache(src, refreshWindow), nil
}

func (e awsEnv) hasKeys() bool {
	return firstOf(e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_ACCESS_KEY")) != "" &&
		firstOf(e.get("AWS_SECRET_ACCESS_KEY"), e.get("AWS_SECRET_KEY")) != ""
}

func (e awsEnv) keys() credentialSource {
	return staticKeys{AccessKeyID: firstOf(e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_ACCESS_KEY")),
		SecretAccessKey: firstOf(e.get("AWS_SECRET_ACCESS_KEY"), e.get("AWS_SECRET_KEY")), SessionToken: e.get("AWS_SESSION_TOKEN")}
}

func profileKeys(p profile) credentialSource {
	return staticKeys{AccessKeyID: p.get("aws_access_key_id"), SecretAccessKey: p.get("aws_secret_access_key"), SessionToken: p.get("aws_session_token")}
}

// maxSourceProfiles bounds a chain of source_profile references.
const maxSourceProfiles = 8

// fromProfile reads credentials as the SDK does from a profile: its
// source_profile's, its keys, its credential_source, its web identity
// token, its credential_process; with none of these, the container's
// endpoint (ECS, EKS Pod Identity), then the EC2 instance role. A role_arn
// is then assumed with them. SSO profiles are not supported: they need
// the SDK's SSO clients, and a person to log in.
func (e awsEnv) fromProfile(p profile, region string, c *http.Client, depth int) (credentialSource, error) {
	var base credentialSource
	var err error
	if depth > 0 && p.get("aws_access_key_id") != "" && p.get("aws_secret_access_key") != "" {
		// A source profile with keys ends the chain with them, its own
		// source_profile and role_arn aside, as in the SDK.
		return profileKeys(p), nil
	}
	switch src := p.get("source_profile"); {
	case src != "" && src != p.name:
		if depth >= maxSourceProfiles {
			return nil, fmt.Errorf("profile %q: source_profile chain longer than %d", p.name, maxSourceProfiles)
		}
		var sp profile
		if sp, err = e.loadProfile(src, true); err == nil {
			base, err = e.fromProfile(sp, region, c, depth+1)
		}
	case p.get("aws_access_key_id") != "" && p.get("aws_secret_access_key") != "":
		base = profileKeys(p)
	case src != "":
		return nil, fmt.Errorf("profile %q: its own source_profile, but no keys", p.name)
	case p.get("credential_source") != "":
		base, err = e.namedSource(p.get("credential_source"), c)
	case p.get("web_identity_token_file") != "":
		return e.webIdentity(p.get("web_identity_token_file"), p.get("role_arn"), p.get("role_session_name"), region, c)
	case p.get("sso_session") != "" || p.get("sso_start_url") != "" || p.get("login_session") != "":
		return nil, fmt.Errorf("profile %q: SSO and console sign-in profiles are not supported: give the daemon keys, a role or a credential_process", p.name)
	case p.get("credential_process") != "":
		base = processSource{profile: p.name, command: p.get("credential_process"), timeout: processTimeout}
	default:
		base, err = e.containerOrInstance(c)
	}
	if err != nil || p.get("role_arn") == "" {
		return base, err
	}
	return e.assumeRole(base, p, region, c)
}

// namedSource is a profile's credential_source.
func (e awsEnv) namedSource(name string, c *http.Client) (credentialSource, error) {
	switch name {
	case "Environment":
		return e.keys(), nil
	case "Ec2InstanceMetadata":
		return e.instance(), nil
	case "EcsContainer":
		if p, ok, err := e.container(c.Timeout); ok || err != nil {
			return p, err
		}
		return nil, errors.New("credential_source EcsContainer, but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set")
	}
	return nil, fmt.Errorf("credential_source %q: must be EcsContainer, Ec2InstanceMetadata or Environment", name)
}

func (e awsEnv) containerOrInstance(c *http.Client) (credentialSource, error) {
	if p, ok, err := e.container(c.Timeout); ok || err != nil {
		return p, err
	}
	return e.instance(), nil
}

// credentialError is a failed fetch of credentials, and whether a later
// one may succeed (retryable reads it).
type credentialError struct {
	err   error
	retry bool
}

func (e *credentialError) Error() string   { return e.err.Error() }
func (e *credentialError) Unwrap() error   { return e.err }
func (e *credentialError) Retryable() bool { return e.retry }

// fetch sends a request for credentials and returns the answer's body;
// its error says whether to retry (network trouble, 429, 5xx) and carries
// neither the URL nor the request's headers.
func fetch(ctx context.Context, c *http.Client, req *http.Request) ([]byte, error) {
	body, retry, err := httpx.Do(ctx, c, req)
	if err != nil {
		return nil, &credentialError{err: err, retry: retry}
	}
	return body, nil
}
