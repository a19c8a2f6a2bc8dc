package nexusiq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

const password = "nx-S3CRET-pw"

// fakeIQ is a Nexus IQ stand-in: applications per organization, BOMs per
// application id.
type fakeIQ struct {
	mu   sync.Mutex
	apps map[string]string // publicId -> id
	boms map[string]string // id -> body
	fail int               // status to answer the bom upload with, 0 for 200
}

func (f *fakeIQ) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != password {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/applications/organization/org1":
		var out struct {
			Applications []map[string]string `json:"applications"`
		}
		out.Applications = []map[string]string{}
		for pid, id := range f.apps {
			out.Applications = append(out.Applications, map[string]string{"id": id, "publicId": pid})
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/applications":
		var in map[string]string
		if json.NewDecoder(r.Body).Decode(&in) != nil || in["organizationId"] != "org1" || in["name"] != in["publicId"] {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := fmt.Sprintf("app-%d", len(f.apps)+1)
		f.apps[in["publicId"]] = id
		fmt.Fprintf(w, `{"id":%q}`, id)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v2/scan/applications/") && strings.HasSuffix(r.URL.Path, "/sources/cyclone"):
		if f.fail != 0 {
			w.WriteHeader(f.fail)
			return
		}
		if r.Header.Get("Content-Type") != "application/xml" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v2/scan/applications/"), "/sources/cyclone")
		b, _ := io.ReadAll(r.Body)
		f.boms[id] = string(b)
		fmt.Fprint(w, `{"statusUrl":"api/v2/scan/applications/x/status/y"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func newAction(t *testing.T, url string) action.Action {
	t.Helper()
	spec := actiontest.GuardedSpec(t, "nexusIq", "url: "+url+"/\nuser: admin\npassword: $NX_PW\norganization-id: org1\n", password)
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSendCreatesThenReusesApplication(t *testing.T) {
	t.Setenv("NX_PW", password)
	f := &fakeIQ{apps: map[string]string{}, boms: map[string]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	a := newAction(t, srv.URL)
	for i, bom := range []string{"<bom>1</bom>", "<bom>2</bom>"} {
		if retry, err := a.Send(context.Background(), action.Message{Title: "docker.io/alpine:3.18", Body: bom}); err != nil {
			t.Fatalf("send %d: retry=%v err=%v", i, retry, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.apps) != 1 || f.apps["docker_io_alpine_3_18"] != "app-1" {
		t.Fatalf("applications = %v", f.apps)
	}
	if f.boms["app-1"] != "<bom>2</bom>" {
		t.Fatalf("boms = %v", f.boms)
	}
}

func TestSendFailures(t *testing.T) {
	t.Setenv("NX_PW", password)
	for _, tt := range []struct {
		code      int
		wantRetry bool
	}{{http.StatusBadRequest, false}, {http.StatusServiceUnavailable, true}} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			f := &fakeIQ{apps: map[string]string{"img": "app-9"}, boms: map[string]string{}, fail: tt.code}
			srv := httptest.NewServer(f)
			defer srv.Close()
			retry, err := newAction(t, srv.URL).Send(context.Background(), action.Message{Title: "img", Body: "<bom/>"})
			if err == nil || retry != tt.wantRetry || !strings.Contains(err.Error(), `action "test-action": register bom`) {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			actiontest.NoSecret(t, err, password)
		})
	}
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	t.Setenv("NX_PW", password+"-wrong")
	srv := httptest.NewServer(&fakeIQ{apps: map[string]string{}, boms: map[string]string{}})
	defer srv.Close()
	retry, err := newAction(t, srv.URL).Send(context.Background(), action.Message{Title: "img", Body: "<bom/>"})
	if err == nil || retry || !strings.Contains(err.Error(), "401") {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	actiontest.NoSecret(t, err, password)
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"no url", "user: u\npassword: S3CRET\norganization-id: o\n", "url is required"},
		{"no password", "url: http://h\nuser: u\norganization-id: o\n", "password is required"},
		{"no org", "url: http://h\nuser: u\npassword: S3CRET\n", "organization-id is required"},
		{"not http", "url: ftp://h\nuser: u\npassword: S3CRET\norganization-id: o\n", "absolute http"},
		{"unset secret", "url: http://h\nuser: u\npassword: $NOPE\norganization-id: o\n", "password:"},
		{"unknown key", "url: http://h\nuser: u\npassword: S3CRET\norganization-id: o\norg: x\n", "org: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: nx\ntype: nexusiq\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			actiontest.NoSecret(t, err, "S3CRET")
		})
	}
}
