package awssecurityhub

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The instance metadata service and the container endpoint are asked
// directly, whatever proxy the environment names: a proxy would see their
// tokens and the credentials. Their clients have no Proxy at all, since
// http.ProxyFromEnvironment reads the environment once per process and
// may have read it before this test set it; the fetches then show it.
func TestMetadataSkipsProxy(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the proxy was asked for %s %s", r.Method, r.URL)
		http.Error(w, "", http.StatusBadGateway)
	}))
	defer proxy.Close()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	expires := time.Now().Add(time.Hour)
	imdsSrv := httptest.NewServer(&fakeIMDS{role: "r", expires: expires})
	defer imdsSrv.Close()
	agentSrv := httptest.NewServer(&containerAgent{token: "tok", expires: expires})
	defer agentSrv.Close()

	role := awsEnv{getenv: func(string) string { return "" }}.instance().(*instanceRole)
	env := map[string]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok"}
	container, _, err := awsEnv{getenv: func(k string) string { return env[k] }}.container(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		src    credentialSource
		client *http.Client
		addr   string // the real endpoint, sent to srv
		srv    *httptest.Server
	}{
		{"instance role", role, role.client, "169.254.169.254:80", imdsSrv},
		{"container", container, container.(*containerSource).client, ecsHost + ":80", agentSrv},
	} {
		tr, ok := tt.client.Transport.(*http.Transport)
		if !ok || tr.Proxy != nil {
			t.Fatalf("%s: the transport is not an *http.Transport without a Proxy", tt.name)
		}
		if tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
			t.Errorf("%s: TLS not verified", tt.name)
		}
		redirect(tr, tt.addr, tt.srv.Listener.Addr().String())
		if _, err := tt.src.Retrieve(context.Background()); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// redirect makes tr connect to to when it dials from, and elsewhere as it
// would: the request still names from, so a proxy would be asked for it.
func redirect(tr *http.Transport, from, to string) {
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == from {
			addr = to
		}
		return dial(ctx, network, addr)
	}
}
