package kubernetes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
	"github.com/postee-fleet/posteed/agent/pki"
)

// apiServer stands in for the Kubernetes API: pods with labels in one
// namespace, listed by an equality selector and changed by merge patches,
// behind TLS with bearer-token or client-certificate authentication.
type apiServer struct {
	srv    *httptest.Server
	caPEM  []byte
	client [2][]byte // a client certificate and key the server accepts
	token  string
	status int // non-zero: every request answers this

	mu      sync.Mutex
	pods    map[string]map[string]string // name -> labels; guarded by mu
	patches map[string]string            // name -> patch body; guarded by mu
}

func startAPI(t *testing.T, pods map[string]map[string]string) *apiServer {
	t.Helper()
	ca, err := pki.NewCA("test kube ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.Server, "kube-apiserver", []string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	a := &apiServer{caPEM: ca.CertPEM(), token: "kube-sekret-token", pods: pods, patches: map[string]string{}}
	if a.client[0], a.client[1], err = ca.Issue(pki.Client, "posteed", nil, 0); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	a.srv = httptest.NewUnstartedServer(a)
	a.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func status(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "message": msg, "code": code})
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.token && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
		status(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if a.status != 0 {
		status(w, a.status, "refused")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	const prefix = "/api/v1/namespaces/default/pods"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		k, v, _ := strings.Cut(r.URL.Query().Get("labelSelector"), "=")
		var items []any
		for name, labels := range a.pods {
			if labels[k] == v {
				items = append(items, map[string]any{"metadata": map[string]any{"name": name, "namespace": "default"}})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"kind": "PodList", "items": items})
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, prefix+"/") && r.Header.Get("Content-Type") == "application/merge-patch+json":
		b, _ := io.ReadAll(r.Body)
		a.patches[strings.TrimPrefix(r.URL.Path, prefix+"/")] = string(b)
		w.Write([]byte(`{"kind":"Pod"}`))
	default:
		status(w, http.StatusNotFound, "not found: "+r.Method+" "+r.URL.String())
	}
}

func (a *apiServer) got() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]string{}
	for k, v := range a.patches {
		out[k] = v
	}
	return out
}

// kubeconfig writes a kubeconfig for a into dir with the given user.
func (a *apiServer) kubeconfig(t *testing.T, dir, user string) string {
	t.Helper()
	p := filepath.Join(dir, "kubeconfig")
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: ctx
contexts:
- name: other
  context: {cluster: nowhere, user: nobody}
- name: ctx
  context: {cluster: c, user: u, namespace: default}
clusters:
- name: c
  cluster:
    server: %s/
    certificate-authority-data: %s
users:
- name: u
  user:
%s
`, a.srv.URL, base64.StdEncoding.EncodeToString(a.caPEM), user)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

var event = action.Message{EventID: "ev-1", Input: map[string]any{
	"SigMetadata": map[string]any{"ID": "TRC-2", "hostname": "web-0"},
}}

const actionKeys = `kube-namespace: default
kube-label-selector: statefulset.kubernetes.io/pod-name=event.input.SigMetadata.hostname
kube-actions:
  labels:
    quarantine: "true"
    signature: event.input.SigMetadata.ID
  annotations:
    posteed/reason: event.input.SigMetadata.ID flagged this pod
`

func TestLabelAndAnnotate(t *testing.T) {
	users := map[string]string{
		"static token":       "    token: kube-sekret-token",
		"token file":         "    tokenFile: token",
		"client certificate": "    client-certificate: client.crt\n    client-key: client.key",
	}
	for name, user := range users {
		t.Run(name, func(t *testing.T) {
			api := startAPI(t, map[string]map[string]string{
				"web-0": {"statefulset.kubernetes.io/pod-name": "web-0"},
				"web-1": {"statefulset.kubernetes.io/pod-name": "web-1"},
			})
			dir := t.TempDir()
			write(t, dir, "token", []byte(api.token+"\n"))
			write(t, dir, "client.crt", api.client[0])
			write(t, dir, "client.key", api.client[1])
			spec := actiontest.GuardedSpec(t, "kubernetes", "kube-config-file: "+api.kubeconfig(t, dir, user)+"\n"+actionKeys, "sekret")
			a, err := New(spec)
			if err != nil {
				t.Fatal(err)
			}
			if retry, err := a.Send(context.Background(), event); err != nil || retry {
				t.Fatalf("Send = %v, %v", retry, err)
			}
			got := api.got()
			want := `{"metadata":{"annotations":{"posteed/reason":"TRC-2 flagged this pod"},"labels":{"quarantine":"true","signature":"TRC-2"}}}`
			if len(got) != 1 || got["web-0"] != want {
				t.Fatalf("patches = %v, want web-0: %s", got, want)
			}
		})
	}
}

func TestNoPodMatches(t *testing.T) {
	api := startAPI(t, map[string]map[string]string{"db-0": {"app": "db"}})
	a, err := New(actiontest.Spec(t, "name: k\ntype: kubernetes\nkube-config-file: "+api.kubeconfig(t, t.TempDir(), "    token: kube-sekret-token")+"\n"+actionKeys))
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := a.Send(context.Background(), event); err != nil || retry || len(api.got()) != 0 {
		t.Fatalf("Send = %v, %v; patches %v", retry, err, api.got())
	}
}

func TestAPIFailures(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		user      string
		untrusted bool
		wantErr   string
		wantRetry bool
	}{
		{"forbidden", http.StatusForbidden, "    token: kube-sekret-token", false, "403", false},
		{"server error", http.StatusInternalServerError, "    token: kube-sekret-token", false, "500", true},
		{"wrong token", 0, "    token: kube-sekret-wrong", false, "401", false},
		{"untrusted server", 0, "    token: kube-sekret-token", true, "certificate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := startAPI(t, map[string]map[string]string{"web-0": {"statefulset.kubernetes.io/pod-name": "web-0"}})
			api.status = tt.status
			if tt.untrusted {
				other, _ := pki.NewCA("another ca")
				api.caPEM = other.CertPEM()
			}
			a, err := New(actiontest.Spec(t, "name: k\ntype: kubernetes\nkube-config-file: "+api.kubeconfig(t, t.TempDir(), tt.user)+"\n"+actionKeys))
			if err != nil {
				t.Fatal(err)
			}
			retry, err := a.Send(context.Background(), event)
			if err == nil || retry != tt.wantRetry || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `action "k"`) {
				t.Fatalf("Send = %v, %v; want retry=%v and %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			actiontest.NoSecret(t, err, "kube-sekret")
		})
	}
}

// Without a kubeconfig the pod's own service account is used.
func TestInCluster(t *testing.T) {
	api := startAPI(t, nil)
	dir := t.TempDir()
	write(t, dir, "ca.crt", api.caPEM)
	write(t, dir, "token", []byte(api.token))
	host, port, _ := strings.Cut(strings.TrimPrefix(api.srv.URL, "https://"), ":")
	env := map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
	ep, err := inCluster(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ep.bearer(); err != nil || tok != api.token || ep.server.String() != api.srv.URL || ep.tls.RootCAs == nil {
		t.Fatalf("endpoint %+v, token %q, %v", ep, tok, err)
	}
	if _, err := inCluster(func(string) (string, bool) { return "", false }, dir); err == nil || !strings.Contains(err.Error(), "kube-config-file is required") {
		t.Fatalf("outside a pod: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "exec.yaml", []byte("current-context: c\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://k:6443'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n"))
	write(t, dir, "noctx.yaml", []byte("current-context: gone\n"))
	tests := []struct{ name, yaml, want string }{
		{"no namespace", "kube-config-file: x\n", "kube-namespace is required"},
		{"unknown action kind", "kube-namespace: d\nkube-label-selector: a=b\nkube-actions: {taints: {a: b}}\n", `"taints" is neither labels nor annotations`},
		{"bad label key", "kube-namespace: d\nkube-label-selector: a=b\nkube-actions: {labels: {'bad key': b}}\n", `"bad key" is not a valid key`},
		{"actions without selector", "kube-namespace: d\nkube-actions: {labels: {a: b}}\n", "kube-label-selector is required"},
		{"missing kubeconfig", "kube-namespace: d\nkube-config-file: " + filepath.Join(dir, "absent") + "\n", "no such file"},
		{"credential plugin", "kube-namespace: d\nkube-config-file: " + filepath.Join(dir, "exec.yaml") + "\n", "credential plugins"},
		{"undefined context", "kube-namespace: d\nkube-config-file: " + filepath.Join(dir, "noctx.yaml") + "\n", `current-context "gone" is not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: k\ntype: kubernetes\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// On a runner's behalf, the kubeconfig is not read here.
	var warned []string
	spec := actiontest.Spec(t, "name: k\ntype: kubernetes\nkube-namespace: d\nkube-config-file: /etc/posteed/kubeconfig\n")
	spec.Remote, spec.OnWarning = true, func(msg string) { warned = append(warned, msg) }
	if _, err := New(spec); err != nil || len(warned) != 0 {
		t.Fatalf("a kubeconfig for a runner: %v, warnings %q", err, warned)
	}
	// Without one, a runner must be in a pod: only it can tell, so check
	// warns (a runner elsewhere refuses its config).
	spec = actiontest.Spec(t, "name: k\ntype: kubernetes\nkube-namespace: d\n")
	spec.Remote, spec.OnWarning = true, func(msg string) { warned = append(warned, msg) }
	if _, err := New(spec); err != nil || len(warned) != 1 || !strings.HasPrefix(warned[0], "kube-config-file is required unless the runner runs in a Kubernetes pod") {
		t.Fatalf("no kubeconfig for a runner: %v, warnings %q", err, warned)
	}
	spec = actiontest.Spec(t, "name: k\ntype: kubernetes\nkube-namespace: d\nkube-config-file: kube/config\n")
	spec.Remote = true
	if _, err := New(spec); err == nil || !strings.Contains(err.Error(), "absolute path on the runner's host") {
		t.Fatalf("a relative kubeconfig for a runner: %v", err)
	}
}
