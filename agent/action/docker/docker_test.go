package docker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
	"github.com/postee-fleet/posteed/agent/config"
	eng "github.com/postee-fleet/posteed/agent/engine"
)

// fakeDocker is a stand-in for the Docker Engine API on a unix socket:
// the calls a run makes, with their real shapes (a streamed pull, a
// multiplexed log stream, {"message": ...} errors).
type fakeDocker struct {
	socket string

	mu         sync.Mutex
	images     map[string]bool // guarded by mu
	pulls      []string        // fromImage:tag; guarded by mu
	containers map[string]*fakeContainer
	nextID     int

	exitCode   int    // what wait answers
	pullError  string // streamed in the pull's progress
	createCode int    // non-zero: create answers this
	blockWait  bool   // wait never answers (until the client gives up)
	output     string // the container's stdout
	echoEnv    string // a NAME: the container also prints that variable of its environment
	refuseEnv  bool   // create answers 400 quoting the container's environment
}

type fakeContainer struct {
	name    string
	spec    containerSpec
	started bool
	removed bool
}

func startDocker(t *testing.T, f *fakeDocker) *fakeDocker {
	t.Helper()
	f.socket = filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	if f.images == nil {
		f.images = map[string]bool{}
	}
	f.containers = map[string]*fakeContainer{}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func apiErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/images/") && strings.HasSuffix(p, "/json"):
		if !f.images[tagged(strings.TrimSuffix(strings.TrimPrefix(p, "/images/"), "/json"))] {
			apiErr(w, http.StatusNotFound, "No such image")
			return
		}
		w.Write([]byte(`{"Id":"sha256:abc"}`))
	case r.Method == http.MethodPost && p == "/images/create":
		f.pull(w, r)
	case r.Method == http.MethodPost && p == "/containers/create":
		f.create(w, r)
	default:
		f.container(w, r)
	}
}

func (f *fakeDocker) pull(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag")
	f.pulls = append(f.pulls, ref)
	w.Write([]byte(`{"status":"Pulling from library/x"}` + "\n"))
	if f.pullError != "" {
		fmt.Fprintf(w, `{"errorDetail":{"message":%q},"error":%q}`+"\n", f.pullError, f.pullError)
		return
	}
	w.Write([]byte(`{"status":"Download complete"}` + "\n"))
	f.images[ref] = true
}

// tagged is ref as the daemon stores it: an untagged name means :latest.
func tagged(ref string) string {
	if strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") || strings.Contains(ref, "@") {
		return ref
	}
	return ref + ":latest"
}

func (f *fakeDocker) create(w http.ResponseWriter, r *http.Request) {
	if f.createCode != 0 {
		apiErr(w, f.createCode, "cannot create")
		return
	}
	var spec containerSpec
	if err := json.NewDecoder(r.Body).Decode(&spec); err != nil || !f.images[tagged(spec.Image)] {
		apiErr(w, http.StatusNotFound, "No such image: "+spec.Image)
		return
	}
	if f.refuseEnv {
		apiErr(w, http.StatusBadRequest, "invalid environment "+strings.Join(spec.Env, " "))
		return
	}
	f.nextID++
	id := fmt.Sprintf("c%064d", f.nextID)
	f.containers[id] = &fakeContainer{name: r.URL.Query().Get("name"), spec: spec}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"Id":%q,"Warnings":[]}`, id)
}

func (f *fakeDocker) container(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/containers/")
	id, verb, _ := strings.Cut(rest, "/")
	c, ok := f.containers[id]
	if !ok || c.removed {
		apiErr(w, http.StatusNotFound, "No such container: "+id)
		return
	}
	switch {
	case r.Method == http.MethodPost && verb == "start":
		c.started = true
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && verb == "wait" && r.URL.Query().Get("condition") == "not-running":
		if f.blockWait {
			f.mu.Unlock()
			<-r.Context().Done()
			f.mu.Lock()
			return
		}
		fmt.Fprintf(w, `{"StatusCode":%d}`, f.exitCode)
	case r.Method == http.MethodGet && verb == "logs":
		out := f.output
		for _, kv := range c.spec.Env {
			if v, ok := strings.CutPrefix(kv, f.echoEnv+"="); ok && f.echoEnv != "" {
				out += f.echoEnv + " is " + v + "\n"
			}
		}
		frame := make([]byte, 8, 8+len(out))
		frame[0] = 1
		binary.BigEndian.PutUint32(frame[4:], uint32(len(out)))
		w.Write(append(frame, out...))
	case r.Method == http.MethodDelete && verb == "" && r.URL.Query().Get("force") == "1":
		c.removed = true
		w.WriteHeader(http.StatusNoContent)
	default:
		apiErr(w, http.StatusBadRequest, "unexpected "+r.Method+" "+r.URL.Path)
	}
}

func (f *fakeDocker) snapshot() ([]string, []*fakeContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cs []*fakeContainer
	for _, c := range f.containers {
		cc := *c
		cs = append(cs, &cc)
	}
	return append([]string(nil), f.pulls...), cs
}

func newDocker(t *testing.T, f *fakeDocker, keys string, env map[string]string) (action.Action, *actiontest.Logs) {
	t.Helper()
	spec := actiontest.SpecEnv(t, "name: contain node\ntype: docker\ndocker-socket: "+f.socket+"\n"+keys, env)
	log, logs := actiontest.Logger()
	spec.Logger = log
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.(action.Closer).Close() })
	return a, logs
}

var event = action.Message{
	Title: "TRC-2 on node-1", Body: `{"SigMetadata":{"ID":"TRC-2"}}`, EventID: "ev-1", Route: "r1",
	Input: map[string]any{"SigMetadata": map[string]any{"ID": "TRC-2", "hostname": "node-1"}},
}

func TestRunContainer(t *testing.T) {
	f := startDocker(t, &fakeDocker{output: "pod deleted\n"})
	a, logs := newDocker(t, f, `docker-image-name: bitnami/kubectl
docker-cmd: ["delete", "pod", event.input.SigMetadata.hostname]
docker-env: ["KUBECONFIG=/.kube/config", "TOKEN=${KUBE_TOKEN}"]
docker-network: host
docker-volume-mounts:
  /etc/kube/config: /.kube/config
  kube-cache: /cache
`, map[string]string{"KUBE_TOKEN": "kube-tok"})
	for range 2 {
		if retry, err := a.Send(context.Background(), event); err != nil || retry {
			t.Fatalf("Send = %v, %v", retry, err)
		}
	}
	pulls, cs := f.snapshot()
	if !slices.Equal(pulls, []string{"bitnami/kubectl:latest"}) {
		t.Fatalf("pulls = %v, want one pull of the missing image", pulls)
	}
	if len(cs) != 2 {
		t.Fatalf("%d containers, want 2", len(cs))
	}
	for _, c := range cs {
		s := c.spec
		if !c.started || !c.removed || !strings.HasPrefix(c.name, "postee-contain-node-") {
			t.Errorf("container %s: started=%v removed=%v", c.name, c.started, c.removed)
		}
		if s.Image != "bitnami/kubectl" || !slices.Equal(s.Cmd, []string{"delete", "pod", "node-1"}) || s.HostConfig.NetworkMode != "host" {
			t.Errorf("spec = %+v", s)
		}
		wantEnv := []string{"KUBECONFIG=/.kube/config", "TOKEN=kube-tok", "POSTEE_EVENT=" + event.Body, "POSTEE_TITLE=TRC-2 on node-1", "POSTEE_EVENT_ID=ev-1", "POSTEE_ROUTE=r1"}
		if !slices.Equal(s.Env, wantEnv) {
			t.Errorf("env = %q, want %q", s.Env, wantEnv)
		}
		wantMounts := []mount{{"bind", "/etc/kube/config", "/.kube/config"}, {"volume", "kube-cache", "/cache"}}
		if !slices.Equal(s.HostConfig.Mounts, wantMounts) || s.Labels["posteed.event-id"] != "ev-1" {
			t.Errorf("mounts = %+v labels = %v", s.HostConfig.Mounts, s.Labels)
		}
	}
	if rec, ok := logs.Find("docker container finished"); !ok || rec["output"] != "pod deleted\n" || rec["exit_code"] != float64(0) {
		t.Fatalf("log = %v", rec)
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name      string
		fake      *fakeDocker
		noDaemon  bool
		wantErr   string
		wantRetry bool
		wantRan   bool // a container was created, and must be removed
	}{
		{"non-zero exit", &fakeDocker{exitCode: 3, output: "no such pod\n"}, false, "container exited with code 3", false, true},
		{"pull refused", &fakeDocker{pullError: "pull access denied for bitnami/kubectl"}, false, "pull access denied", false, false},
		{"daemon not running", &fakeDocker{}, true, "connect", true, false},
		{"create fails 500", &fakeDocker{createCode: http.StatusInternalServerError}, false, "500", true, false},
		{"create conflict 409", &fakeDocker{createCode: http.StatusConflict}, false, "409", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startDocker(t, tt.fake)
			socket := f.socket
			if tt.noDaemon {
				socket = filepath.Join(t.TempDir(), "absent.sock")
			}
			a, _ := newDocker(t, &fakeDocker{socket: socket}, "docker-image-name: bitnami/kubectl:1.30\n", nil)
			retry, err := a.Send(context.Background(), event)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || retry != tt.wantRetry || !strings.Contains(err.Error(), `action "contain node"`) {
				t.Fatalf("Send = %v, %v; want retry=%v and %q", retry, err, tt.wantRetry, tt.wantErr)
			}
			_, cs := f.snapshot()
			if tt.wantRan != (len(cs) == 1) || (len(cs) == 1 && !cs[0].removed) {
				t.Fatalf("containers = %+v", cs)
			}
		})
	}
}

// A container still running when the timeout passes is removed (which
// stops it), and the run is an error.
func TestTimeoutRemovesContainer(t *testing.T) {
	f := startDocker(t, &fakeDocker{blockWait: true, images: map[string]bool{"alpine:3": true}})
	a, _ := newDocker(t, f, "docker-image-name: alpine:3\ntimeout: 50ms\n", nil)
	retry, err := a.Send(context.Background(), event)
	if err == nil || retry || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	if pulls, cs := f.snapshot(); len(pulls) != 0 || len(cs) != 1 || !cs[0].removed {
		t.Fatalf("pulls %v containers %+v", pulls, cs)
	}
}

// TestSecretsRedacted: a docker-env secret that the container prints, or
// that the daemon quotes in an error, reaches neither the log nor the error
// Send returns (which a runner ships to the controller) once the action
// runs in the engine, whose logger and errors are redacted.
func TestSecretsRedacted(t *testing.T) {
	const secret = "docker-env-sekret-5f1e8a2c"
	tests := []struct {
		name   string
		fake   *fakeDocker
		echoed func(err error, logs string) bool // the echo happened, redacted
	}{
		{"printed by the container", &fakeDocker{exitCode: 1, output: "denied\n", echoEnv: "T"},
			func(_ error, logs string) bool { return strings.Contains(logs, "T is [REDACTED]") }},
		{"quoted by the daemon", &fakeDocker{refuseEnv: true},
			func(err error, _ string) bool {
				return strings.Contains(err.Error(), "invalid environment T=[REDACTED]")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fake.images = map[string]bool{"alpine:3": true}
			f := startDocker(t, tt.fake)
			dir := t.TempDir()
			file := filepath.Join(dir, "cfg.yaml")
			cfgText := `routes:
- name: r
  actions: [contain]
  template: t
templates:
- name: t
  rego-package: postee.rawmessage.json
actions:
- name: contain
  type: docker
  enable: true
  docker-image-name: alpine:3
  docker-socket: ` + f.socket + `
  docker-env: ["T=$DOCKER_TOKEN"]
`
			if err := os.WriteFile(file, []byte(cfgText), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			log, logs := actiontest.Logger()
			e, err := eng.New(context.Background(), cfg, eng.Options{
				Registry: action.Default, Logger: log,
				LookupEnv: func(n string) (string, bool) { return secret, n == "DOCKER_TOKEN" },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			err = e.Send(context.Background(), event, "contain")
			if err == nil {
				t.Fatal("the failed run was not an error")
			}
			if !tt.echoed(err, logs.String()) {
				t.Fatalf("the echo did not happen, or not redacted:\nerror: %v\nlog: %s", err, logs)
			}
			actiontest.NoSecret(t, err, secret)
			actiontest.NoSecret(t, logs, secret)
		})
	}
}

func TestSplitRef(t *testing.T) {
	for ref, want := range map[string][2]string{
		"alpine":                            {"alpine", "latest"},
		"alpine:3.20":                       {"alpine", "3.20"},
		"registry:5000/team/tool":           {"registry:5000/team/tool", "latest"},
		"registry:5000/team/tool:v2":        {"registry:5000/team/tool", "v2"},
		"ghcr.io/x/y@sha256:0123456789abcd": {"ghcr.io/x/y", "sha256:0123456789abcd"},
	} {
		if n, tag := splitRef(ref); n != want[0] || tag != want[1] {
			t.Errorf("splitRef(%q) = %q, %q", ref, n, tag)
		}
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"no image", "docker-cmd: [ls]\n", "docker-image-name is required"},
		{"relative mount source", "docker-image-name: x\ndocker-volume-mounts: {path/to/.kube/config: /.kube/config}\n", "absolute host path or a volume name"},
		{"relative mount target", "docker-image-name: x\ndocker-volume-mounts: {/etc/x: etc/x}\n", `target "etc/x" must be an absolute path`},
		{"relative socket", "docker-image-name: x\ndocker-socket: docker.sock\n", "docker-socket"},
		{"bad env", "docker-image-name: x\ndocker-env: [NOVALUE]\n", `cfg.yaml:4: actions[0] "d".docker-env: want NAME=value`},
		{"unset env secret", "docker-image-name: x\ndocker-env: [T=$NOPE]\n", `cfg.yaml:4: actions[0] "d".docker-env[0]: environment variable NOPE is not set`},
		{"unknown key", "docker-image-name: x\ndocker-volume-mount: {}\n", `did you mean "docker-volume-mounts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: d\ntype: docker\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
