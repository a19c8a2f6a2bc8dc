package awssecurityhub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// credentials picks where credentials come from, in the AWS SDK's order:
// keys in the environment; a web identity token in the environment (EKS
// IAM roles for service accounts); the profile p (fromProfile). They are
// cached and fetched again before they expire.
func (e awsEnv) credentials(p profile, region string, c *http.Client) (aws.CredentialsProvider, error) {
	var src aws.CredentialsProvider
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
	return aws.NewCredentialsCache(src, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute }), nil
}

func (e awsEnv) hasKeys() bool {
	return firstOf(e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_ACCESS_KEY")) != "" &&
		firstOf(e.get("AWS_SECRET_ACCESS_KEY"), e.get("AWS_SECRET_KEY")) != ""
}

func (e awsEnv) keys() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(firstOf(e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_ACCESS_KEY")),
		firstOf(e.get("AWS_SECRET_ACCESS_KEY"), e.get("AWS_SECRET_KEY")), e.get("AWS_SESSION_TOKEN"))
}

// maxSourceProfiles bounds a chain of source_profile references.
const maxSourceProfiles = 8

// fromProfile reads credentials as the SDK does from a profile: its
// source_profile's, its keys, its credential_source, its web identity
// token, its credential_process; with none of these, the container's
// endpoint (ECS, EKS Pod Identity), then the EC2 instance role. A role_arn
// is then assumed with them. SSO profiles are not supported: they need
// the SDK's SSO clients, and a person to log in.
func (e awsEnv) fromProfile(p profile, region string, c *http.Client, depth int) (aws.CredentialsProvider, error) {
	var base aws.CredentialsProvider
	var err error
	if depth > 0 && p.get("aws_access_key_id") != "" && p.get("aws_secret_access_key") != "" {
		// A source profile with keys ends the chain with them, its own
		// source_profile and role_arn aside, as in the SDK.
		return credentials.NewStaticCredentialsProvider(p.get("aws_access_key_id"), p.get("aws_secret_access_key"), p.get("aws_session_token")), nil
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
		base = credentials.NewStaticCredentialsProvider(p.get("aws_access_key_id"), p.get("aws_secret_access_key"), p.get("aws_session_token"))
	case src != "":
		return nil, fmt.Errorf("profile %q: its own source_profile, but no keys", p.name)
	case p.get("credential_source") != "":
		base, err = e.namedSource(p.get("credential_source"))
	case p.get("web_identity_token_file") != "":
		return e.webIdentity(p.get("web_identity_token_file"), p.get("role_arn"), p.get("role_session_name"), region, c)
	case p.get("sso_session") != "" || p.get("sso_start_url") != "" || p.get("login_session") != "":
		return nil, fmt.Errorf("profile %q: SSO and console sign-in profiles are not supported: give the daemon keys, a role or a credential_process", p.name)
	case p.get("credential_process") != "":
		base = processcreds.NewProvider(p.get("credential_process"))
	default:
		base, err = e.containerOrInstance()
	}
	if err != nil || p.get("role_arn") == "" {
		return base, err
	}
	return e.assumeRole(base, p, region, c)
}

// namedSource is a profile's credential_source.
func (e awsEnv) namedSource(name string) (aws.CredentialsProvider, error) {
	switch name {
	case "Environment":
		return e.keys(), nil
	case "Ec2InstanceMetadata":
		return e.instance(), nil
	case "EcsContainer":
		if p, ok, err := e.container(); ok || err != nil {
			return p, err
		}
		return nil, errors.New("credential_source EcsContainer, but neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set")
	}
	return nil, fmt.Errorf("credential_source %q: must be EcsContainer, Ec2InstanceMetadata or Environment", name)
}

func (e awsEnv) containerOrInstance() (aws.CredentialsProvider, error) {
	if p, ok, err := e.container(); ok || err != nil {
		return p, err
	}
	return e.instance(), nil
}

// ecsEndpoint is where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points.
const ecsEndpoint = "http://169.254.170.2"

// container is the container credentials endpoint the environment names
// (ECS task roles, EKS Pod Identity); ok is false when it names none.
func (e awsEnv) container() (p aws.CredentialsProvider, ok bool, err error) {
	u := e.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	if rel := e.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		u = ecsEndpoint + rel
	} else if u == "" {
		return nil, false, nil
	} else if err := containerHostAllowed(u); err != nil {
		return nil, true, err
	}
	token, tokenFile := e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"), e.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	return endpointcreds.New(u, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" { // rotated: read at each fetch
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				return strings.TrimSpace(string(b)), err
			})
		}
	}), true, nil
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

// instance is the EC2 instance role, from the instance metadata service,
// unless AWS_EC2_METADATA_DISABLED is true.
func (e awsEnv) instance() aws.CredentialsProvider {
	if strings.EqualFold(e.get("AWS_EC2_METADATA_DISABLED"), "true") {
		return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no AWS credentials: none in the environment or the profile, and AWS_EC2_METADATA_DISABLED is true")
		})
	}
	o := imds.Options{Endpoint: e.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")}
	if strings.EqualFold(e.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"), "IPv6") {
		o.EndpointMode = imds.EndpointModeStateIPv6
	}
	return ec2rolecreds.New(func(r *ec2rolecreds.Options) { r.Client = imds.New(o) })
}
