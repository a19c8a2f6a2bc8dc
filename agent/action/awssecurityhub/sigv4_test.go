package awssecurityhub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/postee-fleet/posteed/agent/action"
)

// signCase is a request to sign both ways; build makes a fresh one each
// time, since signing changes it.
type signCase struct {
	name, service string
	token         string
	build         func(t *testing.T) *http.Request
}

func newRequest(t *testing.T, method, rawURL, body string, header map[string][]string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = append([]string(nil), vs...) // keys as given: some are not canonical
	}
	return req
}

func signCases() []signCase {
	const json = `{"Findings":[{"Id":"a"}]}`
	form := "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&Version=2011-06-15"
	simple := func(method, rawURL, body string, header map[string][]string) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return newRequest(t, method, rawURL, body, header) }
	}
	return []signCase{
		{"import", "securityhub", "", simple("POST", "https://securityhub.eu-west-2.amazonaws.com/findings/import", json,
			map[string][]string{"Content-Type": {"application/json"}})},
		{"import with a session token", "securityhub", "session/token+with=specials", simple("POST", "https://securityhub.eu-west-2.amazonaws.com/findings/import", json,
			map[string][]string{"Content-Type": {"application/json"}})},
		{"assume role", "sts", "", simple("POST", "https://sts.eu-west-2.amazonaws.com", form,
			map[string][]string{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}})},
		{"assume role with a session token", "sts", "FwoGZXIvYXdzEJr//////////wEaDA==", simple("POST", "https://sts.amazonaws.com/", form,
			map[string][]string{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}})},
		{"empty body, no path", "sts", "", simple("GET", "https://sts.amazonaws.com", "", nil)},
		{"query: repeated, unsorted, special", "securityhub", "", simple("GET",
			"https://example.com/x?b=2&a=1&a=0&c=x+y&d=%2F&e=~._-&f=a%2Bb&g=&h&%C3%A9t%C3%A9=%E2%82%AC&a-b=1&a=a%2Fb&a=a-b&sp=a%20b", "", nil)},
		{"query: sorted after encoding", "sts", "", simple("GET", "https://example.com/?k=a%2Fb&k=a-b&k%2F=1&k-=2", "", nil)},
		{"path: characters to escape", "securityhub", "", simple("GET", "https://example.com/a%20b/%C3%BC/c%2Fd/e+f/(x)*!$'@:,;=/~._-", "", nil)},
		{"path: dot segments and double slashes kept", "securityhub", "", simple("GET", "https://example.com//a/./b/../c/", "", nil)},
		{"headers: spaces, case, several values, ignored ones", "securityhub", "tok", simple("POST", "https://example.com/findings/import", "x",
			map[string][]string{
				"Content-Type":      {"  application/json  "},
				"X-Custom":          {"  a   b    c  ", "\td\t", "e  f"},
				"x-lower-case":      {"Value   One"},
				"X-Amz-Meta-Thing":  {"1"},
				"User-Agent":        {"posteed/1.0"},
				"X-Amzn-Trace-Id":   {"Root=1-abc"},
				"Expect":            {"100-continue"},
				"Transfer-Encoding": {"chunked"},
				"Authorization":     {"stale"},
				"Content-Length":    {"999"},
			})},
		{"host: default https port dropped", "securityhub", "", simple("POST", "https://securityhub.eu-west-2.amazonaws.com:443/findings/import", json, nil)},
		{"host: default http port dropped", "sts", "", simple("POST", "http://localhost:80/", form, nil)},
		{"host: other port kept", "sts", "", simple("POST", "http://127.0.0.1:8443/", form, nil)},
		{"host: IPv6 with a port", "securityhub", "", simple("GET", "http://[::1]:9000/findings/import", "", nil)},
		{"host: IPv6 with the default port", "securityhub", "", simple("GET", "http://[::1]:80/findings/import", "", nil)},
		{"host: req.Host over the URL's, and a Host header", "securityhub", "", func(t *testing.T) *http.Request {
			r := newRequest(t, "POST", "https://10.0.0.1/findings/import", json, map[string][]string{"Host": {"ignored.example"}})
			r.Host = "securityhub.eu-west-2.amazonaws.com"
			return r
		}},
		{"body of unknown length", "securityhub", "", func(t *testing.T) *http.Request {
			r := newRequest(t, "POST", "https://example.com/findings/import", "", nil)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(json)), -1
			return r
		}},
		{"opaque URL", "securityhub", "", func(t *testing.T) *http.Request {
			r := newRequest(t, "GET", "https://example.com/ignored", "", nil)
			r.URL.Opaque = "//example.com/a%20b/c?q=1"
			return r
		}},
	}
}

// Our signature is the SDK's, header for header, for the same request,
// keys, time, region and service.
func TestSignV4MatchesSDK(t *testing.T) {
	at := time.Date(2024, 2, 29, 23, 59, 58, 0, time.FixedZone("CET", 3600))
	for _, tc := range signCases() {
		t.Run(tc.name, func(t *testing.T) {
			body := func(r *http.Request) string {
				if r.Body == nil {
					return ""
				}
				b, _ := io.ReadAll(r.Body)
				return string(b)
			}
			ours, sdk := tc.build(t), tc.build(t)
			hash := payloadHash([]byte(body(tc.build(t))))
			c := credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: tc.token}
			signV4(ours, c, hash, tc.service, "eu-west-2", at)
			ac := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
			if err := v4.NewSigner().SignHTTP(context.Background(), ac, sdk, hash, tc.service, "eu-west-2", at); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
				if got, want := ours.Header.Values(h), sdk.Header.Values(h); strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("%s:\n ours %q\n SDK  %q", h, got, want)
				}
			}
			if ours.Host != sdk.Host || ours.URL.RawQuery != sdk.URL.RawQuery {
				t.Errorf("host %q, query %q; SDK: %q, %q", ours.Host, ours.URL.RawQuery, sdk.Host, sdk.URL.RawQuery)
			}
		})
	}
}

// Two examples from AWS's documentation of SigV4, which the SDK's signer
// also passes: its test suite's get-vanilla, and IAM ListUsers.
func TestSignV4KnownAnswers(t *testing.T) {
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	c := credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	empty := payloadHash(nil)
	tests := []struct {
		name, url, service, contentType, want string
	}{
		{"get-vanilla", "https://example.amazonaws.com/", "service", "",
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"iam ListUsers", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", "iam", "application/x-www-form-urlencoded; charset=utf-8",
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, "GET", tt.url, "", nil)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			signV4(req, c, empty, tt.service, "us-east-1", at)
			if got := req.Header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization:\n got  %s\n want %s", got, tt.want)
			}
		})
	}
}

func TestURIEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a b/c":   "a%20b%2Fc",
		"~._-AZ9": "~._-AZ9",
		"é+=&%":   "%C3%A9%2B%3D%26%25",
	} {
		if got := uriEncode(in, true); got != want {
			t.Errorf("uriEncode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := uriEncode("/a b/", false); got != "/a%20b/" {
		t.Errorf("path: %q", got)
	}
	if got := canonicalQuery(url.Values{"b": {"2"}, "a": {"z", "a b"}}); got != "a=a%20b&a=z&b=2" {
		t.Errorf("canonicalQuery: %q", got)
	}
}

// sigV4Verifier is a server that checks each request's signature as AWS
// would: it signs what it received again, with the SDK's signer, and
// compares. Headers the transport adds after signing (Accept-Encoding,
// User-Agent) are not signed and so do not matter.
type sigV4Verifier struct {
	t       *testing.T
	secrets map[string]string // by access key ID
	answer  func(w http.ResponseWriter, r *http.Request, body []byte)

	mu       sync.Mutex
	verified []string // guarded by mu: "service key" of each good request
}

func (v *sigV4Verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	service, key, err := v.verify(r, body)
	if err != nil {
		v.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		http.Error(w, `{"message":"signature does not match"}`, http.StatusForbidden)
		return
	}
	v.mu.Lock()
	v.verified = append(v.verified, service+" "+key)
	v.mu.Unlock()
	v.answer(w, r, body)
}

func (v *sigV4Verifier) verify(r *http.Request, body []byte) (service, key string, err error) {
	auth := r.Header.Get("Authorization")
	cred, _, _ := strings.Cut(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 Credential="), ",")
	scope := strings.Split(cred, "/") // key, date, region, service, aws4_request
	_, signed, _ := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	at, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if len(scope) != 5 || err != nil || v.secrets[scope[0]] == "" {
		return "", "", fmt.Errorf("unreadable Authorization %q", auth)
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	c := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: v.secrets[scope[0]], SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, again, payloadHash(body), scope[3], scope[2], at); err != nil {
		return "", "", err
	}
	if want := again.Header.Get("Authorization"); auth != want {
		return "", "", fmt.Errorf("Authorization\n %s\nwant\n %s", auth, want)
	}
	return scope[3], scope[0], nil
}

func (v *sigV4Verifier) requests() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.verified
}

// The requests sent, AssumeRole and BatchImportFindings, carry a signature
// AWS would accept for what arrives.
func TestSignedRequestsVerify(t *testing.T) {
	v := &sigV4Verifier{t: t, secrets: map[string]string{"AKIDBASE": "base/secret+key", roleKey: roleSecret}}
	v.answer = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/findings/import" {
			fmt.Fprint(w, `{"SuccessCount":1,"FailedCount":0,"FailedFindings":[]}`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>
<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`,
			roleKey, roleSecret, roleToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}
	srv := httptest.NewServer(v)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, dir, "config", "[default]\nregion = eu-west-2\nrole_arn = arn:aws:iam::123456789012:role/hub\nsource_profile = base\n")
	writeFile(t, dir, "credentials", "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base/secret+key\n")
	s := &SecurityHub{name: "hub", log: action.Spec{}.Log()}
	if err := s.setup(Config{Timeout: 5e9}, fakeEnv(dir, srv, nil)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Send(context.Background(), action.Message{Body: trivyReport(3)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"sts AKIDBASE", "securityhub " + roleKey, "securityhub " + roleKey}
	if got := v.requests(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("verified %q, want %q (the role's keys cached for the second import)", got, want)
	}
}
