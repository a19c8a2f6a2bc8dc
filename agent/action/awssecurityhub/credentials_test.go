package awssecurityhub

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

// fakeAWS stands in for Security Hub, STS and a container credentials
// endpoint, recording the key each import was signed with.
type fakeAWS struct {
	t      *testing.T
	status int    // non-zero: STS answers with this
	code   string // and this error code (default AccessDenied)

	mu       sync.Mutex
	imports  []string            // guarded by mu: "KEY token" of each import
	stsCalls []map[string]string // guarded by mu: form and Authorization
}

const (
	roleKey    = "ASIAROLE"
	roleSecret = "role-secret-key"
	roleToken  = "role-session-token"
)

func (a *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	switch {
	case r.URL.Path == "/findings/import":
		key, _, _ := strings.Cut(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 Credential="), "/")
		a.mu.Lock()
		a.imports = append(a.imports, strings.TrimSpace(key+" "+r.Header.Get("X-Amz-Security-Token")))
		a.mu.Unlock()
		fmt.Fprint(w, `{"SuccessCount":1,"FailedCount":0,"FailedFindings":[]}`)
	case r.URL.Path == "/creds":
		if auth != "container-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"AccessKeyId":%q,"SecretAccessKey":%q,"Token":%q,"Expiration":%q}`, "ASIACONTAINER", "container-secret", "container-token-2", time.Now().Add(time.Hour).Format(time.RFC3339))
	default:
		a.serveSTS(w, r, auth)
	}
}

func (a *fakeAWS) serveSTS(w http.ResponseWriter, r *http.Request, auth string) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := map[string]string{"Authorization": auth}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	a.mu.Lock()
	a.stsCalls = append(a.stsCalls, form)
	a.mu.Unlock()
	if a.status != 0 {
		code := a.code
		if code == "" {
			code = "AccessDenied"
		}
		w.WriteHeader(a.status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>not authorized to assume the role</Message></Error></ErrorResponse>`, code)
		return
	}
	action := form["Action"]
	fmt.Fprintf(w, `<%sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%sResult><Credentials>
<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration>
</Credentials></%sResult></%sResponse>`, action, action, roleKey, roleSecret, roleToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), action, action)
}

func (a *fakeAWS) calls() ([]string, []map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.imports, a.stsCalls
}

// fakeEnv is an environment of only vars, with the shared files in dir
// and the instance metadata service off; STS and Security Hub are srv.
func fakeEnv(dir string, srv *httptest.Server, vars map[string]string) awsEnv {
	env := map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ENDPOINT_URL":            srv.URL,
	}
	for k, v := range vars {
		env[k] = v
	}
	return awsEnv{getenv: func(k string) string { return env[k] }}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// importOnce sets a hub up in env and imports one finding.
func importOnce(t *testing.T, env awsEnv) error {
	t.Helper()
	s := &SecurityHub{name: "hub", log: action.Spec{}.Log()}
	if err := s.setup(Config{Timeout: 5e9}, env); err != nil {
		return err
	}
	_, err := s.Send(context.Background(), action.Message{Body: trivyReport(1)})
	return err
}

// Credentials come from the environment, the profile and what it names,
// in the SDK's order; each import is signed with them.
func TestCredentialSources(t *testing.T) {
	tests := []struct {
		name        string
		config      string // ~/.aws/config
		credentials string // ~/.aws/credentials
		vars        map[string]string
		signedBy    string // the import's key and session token
		sts         string // the STS action called, if any
		stsSignedBy string // the key that signed it ("" unsigned)
	}{
		{name: "environment keys first", credentials: "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n",
			vars: map[string]string{"AWS_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok"}, signedBy: "AKIDENV tok"},
		{name: "default profile, region from the config file", config: "[default]\nregion = eu-west-2\n",
			credentials: "# keys\n[default]\naws_access_key_id = AKIDFILE ; the build user\naws_secret_access_key = s\n", signedBy: "AKIDFILE"},
		{name: "named profile: credentials file over config file",
			config:      "[profile app]\nregion = eu-west-2\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\ns3 =\n  max_concurrent_requests = 4\n",
			credentials: "[app]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n",
			vars:        map[string]string{"AWS_PROFILE": "app"}, signedBy: "AKIDCREDS"},
		{name: "role from a source profile", config: "[profile app]\nregion = eu-west-2\nrole_arn = arn:aws:iam::123456789012:role/hub\nsource_profile = base\nexternal_id = ext-1\n",
			credentials: "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n",
			vars:        map[string]string{"AWS_PROFILE": "app"}, signedBy: roleKey + " " + roleToken, sts: "AssumeRole", stsSignedBy: "AKIDBASE"},
		{name: "quoted values and key: value, as the SDK reads them", config: "[default]\nregion: \"eu-west-2\"\n",
			credentials: "[default]\naws_access_key_id = 'AKIDQUOTED'\naws_secret_access_key: \"s\"\n", signedBy: "AKIDQUOTED"},
		{name: "a source profile with keys ends the chain", config: "[profile app]\nregion = eu-west-2\nrole_arn = arn:aws:iam::123456789012:role/hub\nsource_profile = base\n" +
			"[profile base]\nsource_profile = other\nrole_arn = arn:aws:iam::123456789012:role/other\n",
			credentials: "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s\n",
			vars:        map[string]string{"AWS_PROFILE": "app"}, signedBy: roleKey + " " + roleToken, sts: "AssumeRole", stsSignedBy: "AKIDBASE"},
		{name: "web identity in the environment (EKS)", vars: map[string]string{"AWS_REGION": "eu-west-2", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/hub", "AWS_WEB_IDENTITY_TOKEN_FILE": "TOKENFILE"},
			signedBy: roleKey + " " + roleToken, sts: "AssumeRoleWithWebIdentity"},
		{name: "web identity in the profile", config: "[default]\nregion = eu-west-2\nrole_arn = arn:aws:iam::123456789012:role/hub\nweb_identity_token_file = TOKENFILE\n",
			signedBy: roleKey + " " + roleToken, sts: "AssumeRoleWithWebIdentity"},
		{name: "credential process", config: "[default]\nregion = eu-west-2\ncredential_process = PROCESS\n", signedBy: "AKIDPROCESS"},
		{name: "container endpoint", vars: map[string]string{"AWS_REGION": "eu-west-2", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "SRV/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "CONTAINERTOKEN"},
			signedBy: "ASIACONTAINER container-token-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := &fakeAWS{t: t}
			srv := httptest.NewServer(hub)
			defer srv.Close()
			dir := t.TempDir()
			tokenFile := writeFile(t, dir, "token", "the-web-identity-token\n")
			process := writeFile(t, dir, "process", "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"s\"}'\n")
			containerToken := writeFile(t, dir, "container-token", "container-token\n")
			fill := strings.NewReplacer("TOKENFILE", tokenFile, "PROCESS", process, "CONTAINERTOKEN", containerToken, "SRV", srv.URL)
			writeFile(t, dir, "config", fill.Replace(tt.config))
			writeFile(t, dir, "credentials", fill.Replace(tt.credentials))
			vars := map[string]string{}
			for k, v := range tt.vars {
				vars[k] = fill.Replace(v)
			}
			if err := importOnce(t, fakeEnv(dir, srv, vars)); err != nil {
				t.Fatal(err)
			}
			imports, calls := hub.calls()
			if len(imports) != 1 || imports[0] != tt.signedBy {
				t.Errorf("imports signed by %q, want %q", imports, tt.signedBy)
			}
			if tt.sts == "" {
				if len(calls) != 0 {
					t.Errorf("STS called: %v", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0]["Action"] != tt.sts || calls[0]["RoleArn"] != "arn:aws:iam::123456789012:role/hub" || calls[0]["Version"] != "2011-06-15" {
				t.Fatalf("STS calls %v, want one %s", calls, tt.sts)
			}
			c := calls[0]
			if tt.stsSignedBy == "" && (c["Authorization"] != "" || c["WebIdentityToken"] != "the-web-identity-token") {
				t.Errorf("web identity call %v: want unsigned, with the token", c)
			}
			if tt.stsSignedBy != "" && !strings.HasPrefix(c["Authorization"], "AWS4-HMAC-SHA256 Credential="+tt.stsSignedBy+"/") || !strings.HasPrefix(c["RoleSessionName"], "posteed-") {
				t.Errorf("assume role call %v: want signed by %s", c, tt.stsSignedBy)
			}
		})
	}
}

// What cannot give a daemon credentials is refused when the action is
// set up, naming the profile; an STS refusal is an import error, retried
// only when STS may answer later, and no secret is in either.
func TestCredentialErrors(t *testing.T) {
	const roleProfile = "[default]\nregion = eu-west-2\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = keys\n[profile keys]\naws_access_key_id = AKIDKEYS\naws_secret_access_key = sekret-access-key\n"
	tests := []struct {
		name, config string
		vars         map[string]string
		sts          int
		code         string
		want         string
		retry        bool
	}{
		{name: "profile named nowhere", vars: map[string]string{"AWS_PROFILE": "nope", "AWS_REGION": "eu-west-2"}, want: `profile "nope" is in neither`},
		{name: "SSO", config: "[default]\nregion = eu-west-2\nsso_session = corp\nsso_account_id = 1\n", want: `profile "default": SSO and console sign-in profiles are not supported`},
		{name: "MFA", config: "[default]\nregion = eu-west-2\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Ec2InstanceMetadata\nmfa_serial = arn:aws:iam::1:mfa/me\n", want: "mfa_serial needs a code"},
		{name: "bad credential source", config: "[default]\nregion = eu-west-2\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Laptop\n", want: `credential_source "Laptop"`},
		{name: "web identity without a role", vars: map[string]string{"AWS_REGION": "eu-west-2", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, want: "needs a role ARN"},
		{name: "container endpoint elsewhere over HTTP", vars: map[string]string{"AWS_REGION": "eu-west-2", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"}, want: "plain HTTP only to this host"},
		{name: "no source at all", vars: map[string]string{"AWS_REGION": "eu-west-2"}, want: "AWS_EC2_METADATA_DISABLED is true"},
		{name: "role refused", config: roleProfile, sts: http.StatusForbidden,
			want: "sts AssumeRole: 403 AccessDenied: not authorized to assume the role"},
		{name: "STS down", config: roleProfile, sts: http.StatusServiceUnavailable,
			want: "sts AssumeRole: 503", retry: true},
		{name: "STS throttling (a 400)", config: roleProfile, sts: http.StatusBadRequest, code: "Throttling",
			want: "sts AssumeRole: 400 Throttling", retry: true},
		{name: "identity provider unreachable (a 400)", config: roleProfile, sts: http.StatusBadRequest, code: "IDPCommunicationError",
			want: "400 IDPCommunicationError", retry: true},
		{name: "a plain 400", config: roleProfile, sts: http.StatusBadRequest, code: "ValidationError",
			want: "400 ValidationError", retry: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeAWS{t: t, status: tt.sts, code: tt.code})
			defer srv.Close()
			dir := t.TempDir()
			writeFile(t, dir, "config", tt.config)
			s := &SecurityHub{name: "hub", log: action.Spec{}.Log()}
			err := s.setup(Config{Timeout: 5e9}, fakeEnv(dir, srv, tt.vars))
			retry := false
			if err == nil {
				retry, err = s.Send(context.Background(), action.Message{Body: trivyReport(1)})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || retry != tt.retry {
				t.Fatalf("got retry=%v, %v; want retry=%v and %q", retry, err, tt.retry, tt.want)
			}
			actiontest.NoSecret(t, err, "sekret-access-key")
		})
	}
}

func TestServiceURL(t *testing.T) {
	for region, want := range map[string]string{
		"eu-west-2":      "https://securityhub.eu-west-2.amazonaws.com",
		"cn-north-1":     "https://securityhub.cn-north-1.amazonaws.com.cn",
		"us-gov-west-1":  "https://securityhub.us-gov-west-1.amazonaws.com",
		"us-isob-east-1": "https://securityhub.us-isob-east-1.sc2s.sgov.gov",
	} {
		if got := serviceURL("securityhub", region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
