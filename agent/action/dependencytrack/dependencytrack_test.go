package dependencytrack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

const apiKey = "odt_S3CRETkey0123"

const bom = `{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"type":"library","name":"openssl","version":"3.0.8"}]}`

func TestSend(t *testing.T) {
	t.Setenv("DT_KEY", apiKey)
	for _, tt := range []struct {
		code           int
		wantErr, retry bool
	}{{http.StatusOK, false, false}, {http.StatusUnauthorized, true, false}, {http.StatusBadGateway, true, true}} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			got := make(chan bomUpload, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut || r.URL.Path != "/api/v1/bom" || r.Header.Get("X-Api-Key") != apiKey || r.Header.Get("Content-Type") != "application/json" {
					w.WriteHeader(http.StatusNotFound)
					return
				}
				var in bomUpload
				if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				got <- in
				w.WriteHeader(tt.code)
				fmt.Fprint(w, `{"token":"a1b2"}`)
			}))
			defer srv.Close()
			a, err := New(actiontest.GuardedSpec(t, "dependencytrack", "url: "+srv.URL+"/\ndependency-track-api-key: $DT_KEY\n", apiKey))
			if err != nil {
				t.Fatal(err)
			}
			retry, err := a.Send(context.Background(), action.Message{Title: "alpine:3.18", Body: bom})
			if (err != nil) != tt.wantErr || retry != tt.retry {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			actiontest.NoSecret(t, err, apiKey)
			in := <-got
			dec, _ := base64.StdEncoding.DecodeString(in.BOM)
			if in.ProjectName != "alpine" || in.ProjectVersion != "3.18" || !in.AutoCreate || string(dec) != bom {
				t.Fatalf("server got %+v (bom %s)", in, dec)
			}
		})
	}
}

func TestSendBadMessage(t *testing.T) {
	a, err := New(actiontest.Spec(t, "name: dt\ntype: dependencytrack\nurl: http://127.0.0.1:1\ndependency-track-api-key: k\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []action.Message{{Title: "no-version", Body: bom}, {Title: "a:1", Body: "<bom/>"}} {
		if retry, err := a.Send(context.Background(), m); err == nil || retry || !strings.Contains(err.Error(), `action "dt"`) {
			t.Errorf("%q: retry=%v err=%v", m.Title, retry, err)
		}
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"no url", "dependency-track-api-key: S3CRET\n", "url is required"},
		{"no key", "url: http://h\n", "dependency-track-api-key is required"},
		{"unset secret", "url: http://h\ndependency-track-api-key: $NOPE\n", "dependency-track-api-key:"},
		{"not http", "url: h:8080\ndependency-track-api-key: S3CRET\n", "absolute http"},
		{"unknown key", "url: http://h\ndependency-track-api-key: S3CRET\napi-key: x\n", "api-key: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(actiontest.Spec(t, "name: dt\ntype: dependencytrack\n"+tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			actiontest.NoSecret(t, err, "S3CRET")
		})
	}
}
