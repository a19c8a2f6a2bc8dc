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

	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/postee-fleet/posteed/agent/action/actiontest"
	"github.com/postee-fleet/posteed/agent/action/httpx"
)

const containerSecret = "container-secret-key"

// containerAgent stands in for the ECS or EKS Pod Identity agent: it
// answers with credentials when the Authorization header is token.
type containerAgent struct {
	token   string
	status  int    // non-zero: answer with this
	answer  string // non-empty: answer with this body
	expires time.Time

	mu   sync.Mutex
	seen []http.Header // guarded by mu
}

func (a *containerAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Clone())
	token := a.token
	a.mu.Unlock()
	switch {
	case r.Method != http.MethodGet || r.URL.Path != "/v2/credentials/abc":
		http.Error(w, "not found", http.StatusNotFound)
	case r.Header.Get("Authorization") != token:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":"AccessDenied","message":"bad token"}`)
	case a.status != 0:
		http.Error(w, "agent trouble", a.status)
	case a.answer != "":
		fmt.Fprint(w, a.answer)
	default:
		fmt.Fprintf(w, `{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":%q,"Token":"container-session","AccountId":"123456789012","Expiration":%q}`,
			containerSecret, a.expires.Format(time.RFC3339))
	}
}

func (a *containerAgent) setToken(token string) {
	a.mu.Lock()
	a.token = token
	a.mu.Unlock()
}

func (a *containerAgent) headers() []http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen
}

func TestContainerCredentials(t *testing.T) {
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	agent := &containerAgent{token: "tok-1", expires: expires}
	srv := httptest.NewServer(agent)
	defer srv.Close()
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token", "tok-1\n")
	env := awsEnv{getenv: func(k string) string {
		return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/v2/credentials/abc",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-env", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile}[k]
	}}
	src, ok, err := env.container(5 * time.Second)
	if err != nil || !ok {
		t.Fatalf("container() = %v, %v", ok, err)
	}
	got, err := src.Retrieve(context.Background())
	want := credentials{AccessKeyID: "ASIACONTAINER", SecretAccessKey: containerSecret, SessionToken: "container-session", Expires: expires}
	if err != nil || got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey || got.SessionToken != want.SessionToken || !got.Expires.Equal(expires) {
		t.Fatalf("Retrieve = %+v, %v; want %+v", got, err, want)
	}
	if h := agent.headers()[0]; h.Get("Accept") != "application/json" {
		t.Errorf("Accept = %q", h.Get("Accept"))
	}

	// The token file rotates: it is read again at each fetch.
	agent.setToken("tok-2")
	writeFile(t, dir, "token", "tok-2\n")
	if _, err := src.Retrieve(context.Background()); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestContainerCredentialErrors(t *testing.T) {
	tests := []struct {
		name  string
		agent *containerAgent
		token string
		want  string
		retry bool
	}{
		{"wrong token", &containerAgent{token: "right"}, "wrong", "401 Unauthorized", false},
		{"token with a line break", &containerAgent{token: "a\nb"}, "a\nb", "line break", false},
		{"agent down", &containerAgent{token: "t", status: http.StatusServiceUnavailable}, "t", "503", true},
		{"throttled", &containerAgent{token: "t", status: http.StatusTooManyRequests}, "t", "429", true},
		{"not JSON", &containerAgent{token: "t", answer: "AccessKeyId=" + containerSecret}, "t", "not JSON credentials", false},
		{"no keys", &containerAgent{token: "t", answer: `{"Token":"x"}`}, "t", "no AccessKeyId or SecretAccessKey", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.agent)
			defer srv.Close()
			src := &containerSource{url: srv.URL + "/v2/credentials/abc", token: tt.token, client: httpx.NewClient(5*time.Second, false)}
			_, err := src.Retrieve(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || retryable(err) != tt.retry {
				t.Fatalf("Retrieve error %v (retry %v); want %q (retry %v)", err, retryable(err), tt.want, tt.retry)
			}
			actiontest.NoSecret(t, err, containerSecret)
			if tt.token != "t" {
				actiontest.NoSecret(t, err, tt.token)
			}
		})
	}
}

// The SDK's provider reads the same answer the same way.
func TestContainerCredentialsMatchSDK(t *testing.T) {
	agent := &containerAgent{token: "tok", expires: time.Now().Add(time.Hour).Truncate(time.Second)}
	srv := httptest.NewServer(agent)
	defer srv.Close()
	u := srv.URL + "/v2/credentials/abc"
	ours, err := (&containerSource{url: u, token: "tok", client: httpx.NewClient(5*time.Second, false)}).Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := endpointcreds.New(u, func(o *endpointcreds.Options) { o.AuthorizationToken = "tok" }).Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ours.AccessKeyID != sdk.AccessKeyID || ours.SecretAccessKey != sdk.SecretAccessKey || ours.SessionToken != sdk.SessionToken || !ours.Expires.Equal(sdk.Expires) {
		t.Errorf("ours %+v\nSDK  %+v", ours, sdk)
	}
	if h := agent.headers(); h[0].Get("Authorization") != h[1].Get("Authorization") || h[0].Get("Accept") != h[1].Get("Accept") {
		t.Errorf("headers: ours %v, SDK %v", h[0], h[1])
	}
}

// Plain HTTP goes only to this host and the ECS and EKS agents; HTTPS
// anywhere; RELATIVE_URI to the ECS agent, over FULL_URI, and never to
// another host whatever it holds.
func TestContainerEndpoints(t *testing.T) {
	for _, tt := range []struct {
		full, relative string
		wantURL        string // "" : refused
	}{
		{full: "http://127.0.0.1:8080/creds", wantURL: "http://127.0.0.1:8080/creds"},
		{full: "http://[::1]/creds", wantURL: "http://[::1]/creds"},
		{full: "http://localhost/creds", wantURL: "http://localhost/creds"},
		{full: "http://169.254.170.2/v2/credentials/x", wantURL: "http://169.254.170.2/v2/credentials/x"},
		{full: "http://169.254.170.23/v1/credentials", wantURL: "http://169.254.170.23/v1/credentials"},
		{full: "http://[fd00:ec2::23]/v1/credentials", wantURL: "http://[fd00:ec2::23]/v1/credentials"},
		{full: "https://creds.example.com/x", wantURL: "https://creds.example.com/x"},
		{full: "http://192.0.2.1/creds"},
		{full: "http://169.254.169.254/creds"},
		{full: "not a url"},
		{full: "http://192.0.2.1/creds", relative: "/v2/credentials/rel", wantURL: "http://169.254.170.2/v2/credentials/rel"},
		{relative: "/v2/credentials/rel?a=b", wantURL: "http://169.254.170.2/v2/credentials/rel?a=b"},
		{relative: "/a%2Fb", wantURL: "http://169.254.170.2/a%2Fb"},
		{relative: "/x@y", wantURL: "http://169.254.170.2/x@y"},
		{relative: "/x?@evil.example/", wantURL: "http://169.254.170.2/x?@evil.example/"},
		{relative: "@evil.example/x"},
		{relative: "evil.example/x"},
		{relative: ":80@evil.example/x"},
		{relative: "//evil.example/x"},
		{relative: "/x#@evil.example/"},
		{relative: "/x\r\nHost: evil.example"},
		{relative: "/x y"},
		{relative: "/%zz"},
	} {
		env := awsEnv{getenv: func(k string) string {
			return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": tt.full, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": tt.relative}[k]
		}}
		src, ok, err := env.container(0)
		if !ok {
			t.Errorf("%q %q: not taken as a container endpoint", tt.full, tt.relative)
			continue
		}
		if tt.wantURL == "" {
			if err == nil {
				t.Errorf("%q %q: allowed, %s", tt.full, tt.relative, src.(*containerSource).url)
			} else if tt.relative != "" && (!strings.Contains(err.Error(), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || strings.Contains(err.Error(), "evil")) {
				t.Errorf("%q: error %q should name the variable, not quote it", tt.relative, err)
			}
			continue
		}
		if err != nil || src.(*containerSource).url != tt.wantURL {
			t.Errorf("%q %q: %v, %v; want %s", tt.full, tt.relative, src, err, tt.wantURL)
			continue
		}
		if req, err := http.NewRequest(http.MethodGet, src.(*containerSource).url, nil); err != nil || tt.relative != "" && req.URL.Host != ecsHost {
			t.Errorf("%q: request %v, %v; want it for %s", tt.relative, req.URL, err, ecsHost)
		}
	}
}

// A FULL_URI host name is looked up once, at New, which must not hang on
// DNS: the lookup has a deadline.
func TestContainerHostLookupIsBounded(t *testing.T) {
	start := time.Now()
	var deadline time.Time
	var bounded bool
	lookup := func(ctx context.Context, host string) ([]string, error) {
		deadline, bounded = ctx.Deadline()
		return []string{"127.0.0.1"}, nil
	}
	if err := containerHostAllowed("http://creds.internal/x", lookup); err != nil {
		t.Fatal(err)
	}
	if !bounded || deadline.After(time.Now().Add(resolveTimeout)) || deadline.Before(start) {
		t.Errorf("lookup deadline %v (set %v), want within %v", deadline, bounded, resolveTimeout)
	}
}
