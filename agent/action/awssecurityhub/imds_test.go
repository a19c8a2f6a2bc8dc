package awssecurityhub

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

const instanceSecret = "instance-secret-key"

// fakeIMDS stands in for the instance metadata service: a session token
// for a PUT with a TTL, then the role and its credentials for GETs that
// carry the token (or none, when v1 is allowed).
type fakeIMDS struct {
	tokenStatus int  // non-zero: the PUT answers with this
	emptyToken  bool // the PUT answers 200 with no token
	v1          bool // GETs without a token are answered
	role        string
	code        string // the credentials' Code (default Success)
	expires     time.Time

	mu       sync.Mutex
	requests []string // guarded by mu: "METHOD escaped-path token"
}

const imdsToken = "AQAEAtokentoken=="

func (m *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := r.Header.Get("X-Aws-Ec2-Metadata-Token")
	m.mu.Lock()
	m.requests = append(m.requests, strings.TrimSpace(r.Method+" "+r.URL.EscapedPath()+" "+token))
	m.mu.Unlock()
	if r.Method == http.MethodPut && r.URL.Path == imdsTokenPath {
		m.serveToken(w, r)
		return
	}
	if r.Method != http.MethodGet || token != imdsToken && !(token == "" && m.v1) {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case imdsRolesPath:
		if m.role == "" {
			http.Error(w, "", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, m.role+"\n")
	case imdsRolesPath + m.role:
		fmt.Fprintf(w, `{"Code":%q,"Message":"the message","LastUpdated":"2024-05-01T09:00:00Z","Type":"AWS-HMAC",
"AccessKeyId":"ASIAINSTANCE","SecretAccessKey":%q,"Token":"instance-session","Expiration":%q}`,
			firstOf(m.code, "Success"), instanceSecret, m.expires.UTC().Format(time.RFC3339))
	default:
		http.Error(w, "", http.StatusNotFound)
	}
}

func (m *fakeIMDS) serveToken(w http.ResponseWriter, r *http.Request) {
	ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
	switch {
	case m.tokenStatus != 0:
		http.Error(w, "", m.tokenStatus)
	case m.emptyToken:
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
	case ttl == "":
		http.Error(w, "", http.StatusBadRequest)
	default:
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
		fmt.Fprint(w, imdsToken)
	}
}

func (m *fakeIMDS) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

// instanceEnv is an environment pointing the metadata service at srv.
func instanceEnv(srv *httptest.Server, vars map[string]string) awsEnv {
	env := map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": srv.URL}
	for k, v := range vars {
		env[k] = v
	}
	return awsEnv{getenv: func(k string) string { return env[k] }}
}

func TestInstanceRole(t *testing.T) {
	expires := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	m := &fakeIMDS{role: "hub-role", expires: expires}
	srv := httptest.NewServer(m)
	defer srv.Close()
	got, err := instanceEnv(srv, nil).instance().Retrieve(context.Background())
	if err != nil || got.AccessKeyID != "ASIAINSTANCE" || got.SecretAccessKey != instanceSecret || got.SessionToken != "instance-session" || !got.Expires.Equal(expires) {
		t.Fatalf("Retrieve = %+v, %v", got, err)
	}
	want := []string{"PUT " + imdsTokenPath, "GET " + imdsRolesPath + " " + imdsToken, "GET " + imdsRolesPath + "hub-role " + imdsToken}
	if got := m.seen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A role's name is escaped once, as a path: IAM allows +=,.@_- in it.
func TestInstanceRoleNameEscapedOnce(t *testing.T) {
	for _, tt := range []struct{ role, escaped string }{
		{"a,b+c=d@e_f-g.h", "a,b+c=d@e_f-g.h"},
		{"a b?c%d", "a%20b%3Fc%25d"},
	} {
		m := &fakeIMDS{role: tt.role, expires: time.Now().Add(time.Hour)}
		srv := httptest.NewServer(m)
		got, err := instanceEnv(srv, nil).instance().Retrieve(context.Background())
		srv.Close()
		if err != nil || got.AccessKeyID != "ASIAINSTANCE" {
			t.Errorf("role %q: Retrieve = %+v, %v", tt.role, got, err)
		}
		if seen := m.seen(); len(seen) != 3 || seen[2] != "GET "+imdsRolesPath+tt.escaped+" "+imdsToken {
			t.Errorf("role %q: requests %q, want the last for %s", tt.role, seen, imdsRolesPath+tt.escaped)
		}
	}
}

// An empty token in a 200 is the service's trouble, retried; no GET goes
// out without a token, whether IMDSv1 is allowed or not.
func TestInstanceRoleEmptyToken(t *testing.T) {
	for _, v1Disabled := range []string{"", "true"} {
		m := &fakeIMDS{role: "r", emptyToken: true, v1: true, expires: time.Now().Add(time.Hour)}
		srv := httptest.NewServer(m)
		_, err := instanceEnv(srv, map[string]string{"AWS_EC2_METADATA_V1_DISABLED": v1Disabled}).instance().Retrieve(context.Background())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "empty token") || !retryable(err) {
			t.Errorf("V1_DISABLED=%q: Retrieve error %v (retry %v); want a retried empty token", v1Disabled, err, retryable(err))
		}
		if seen := m.seen(); len(seen) != 1 {
			t.Errorf("V1_DISABLED=%q: requests %q; want the PUT only", v1Disabled, seen)
		}
	}
}

// Credentials are kept an hour at most, as the SDK keeps them.
func TestInstanceRoleCapsExpiry(t *testing.T) {
	m := &fakeIMDS{role: "r", expires: time.Now().Add(6 * time.Hour)}
	srv := httptest.NewServer(m)
	defer srv.Close()
	r := instanceEnv(srv, nil).instance().(*instanceRole)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	m.expires = now.Add(6 * time.Hour)
	got, err := r.Retrieve(context.Background())
	if err != nil || !got.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("Retrieve = %v, %v; want expiry in an hour", got.Expires, err)
	}
}

func TestInstanceRoleErrors(t *testing.T) {
	tests := []struct {
		name  string
		imds  *fakeIMDS
		vars  map[string]string
		want  string
		retry bool
	}{
		{name: "no role", imds: &fakeIMDS{}, want: "no role found", retry: false},
		{name: "role refused", imds: &fakeIMDS{role: "r", code: "AssumeRoleUnauthorizedAccess"}, want: `instance role "r": AssumeRoleUnauthorizedAccess: the message`},
		{name: "token refused, IMDSv1 off on the instance", imds: &fakeIMDS{role: "r", tokenStatus: http.StatusForbidden}, want: "401"},
		{name: "token refused, IMDSv1 off here", imds: &fakeIMDS{role: "r", tokenStatus: http.StatusForbidden, v1: true},
			vars: map[string]string{"AWS_EC2_METADATA_V1_DISABLED": "true"}, want: "session token: PUT"},
		{name: "token request bad", imds: &fakeIMDS{role: "r", tokenStatus: http.StatusBadRequest, v1: true}, want: "session token: PUT"},
		{name: "service down", imds: &fakeIMDS{role: "r", tokenStatus: http.StatusServiceUnavailable}, want: "503", retry: true},
		{name: "endpoint not a URL", imds: &fakeIMDS{}, vars: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "::"}, want: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.imds.expires = time.Now().Add(time.Hour)
			srv := httptest.NewServer(tt.imds)
			defer srv.Close()
			_, err := instanceEnv(srv, tt.vars).instance().Retrieve(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || retryable(err) != tt.retry {
				t.Fatalf("Retrieve error %v (retry %v); want %q (retry %v)", err, retryable(err), tt.want, tt.retry)
			}
			actiontest.NoSecret(t, err, instanceSecret)
			actiontest.NoSecret(t, err, imdsToken)
		})
	}
}

// Without a token from the service (403, 404, 405 or no answer), the SDK
// goes on with IMDSv1; so do we, unless AWS_EC2_METADATA_V1_DISABLED.
func TestInstanceRoleFallsBackToV1(t *testing.T) {
	m := &fakeIMDS{role: "r", tokenStatus: http.StatusNotFound, v1: true, expires: time.Now().Add(time.Hour)}
	srv := httptest.NewServer(m)
	defer srv.Close()
	got, err := instanceEnv(srv, nil).instance().Retrieve(context.Background())
	if err != nil || got.AccessKeyID != "ASIAINSTANCE" {
		t.Fatalf("Retrieve = %+v, %v", got, err)
	}
	if seen := m.seen(); len(seen) != 3 || seen[1] != "GET "+imdsRolesPath || seen[2] != "GET "+imdsRolesPath+"r" {
		t.Errorf("requests %q: want GETs without a token", seen)
	}
}

// The endpoint: the override, else the IPv4 address, or the IPv6 one in
// IPv6 mode; none when the service is disabled.
func TestInstanceEndpoint(t *testing.T) {
	for _, tt := range []struct {
		vars map[string]string
		want string
	}{
		{nil, "http://169.254.169.254"},
		{map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}, "http://[fd00:ec2::254]"},
		{map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "ipv4"}, "http://169.254.169.254"},
		{map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://10.0.0.1:1338"}, "http://10.0.0.1:1338"},
	} {
		r, ok := awsEnv{getenv: func(k string) string { return tt.vars[k] }}.instance().(*instanceRole)
		if !ok || r.endpoint != tt.want || !r.v1 {
			t.Errorf("%v: %+v, want %s", tt.vars, r, tt.want)
		}
	}
	_, err := awsEnv{getenv: func(k string) string { return map[string]string{"AWS_EC2_METADATA_DISABLED": "TRUE"}[k] }}.instance().Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "AWS_EC2_METADATA_DISABLED is true") {
		t.Errorf("disabled: %v", err)
	}
}

// The SDK's provider, against the same service, gets the same credentials,
// asking for a role named with IAM's punctuation the same way.
func TestInstanceRoleMatchesSDK(t *testing.T) {
	m := &fakeIMDS{role: "a,b+c=d@e_f-g.h", expires: time.Now().Add(20 * time.Minute).Truncate(time.Second)}
	srv := httptest.NewServer(m)
	defer srv.Close()
	ours, err := instanceEnv(srv, nil).instance().Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: srv.URL})
	}).Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ours.AccessKeyID != sdk.AccessKeyID || ours.SecretAccessKey != sdk.SecretAccessKey || ours.SessionToken != sdk.SessionToken || !ours.Expires.Equal(sdk.Expires) {
		t.Errorf("ours %+v\nSDK  %+v", ours, sdk)
	}
	seen := m.seen()
	if half := len(seen) / 2; strings.Join(seen[:half], ",") != strings.Join(seen[half:], ",") {
		t.Errorf("requests differ: ours %q, SDK %q", seen[:half], seen[half:])
	}
}
