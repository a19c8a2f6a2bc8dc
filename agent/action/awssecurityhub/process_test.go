package awssecurityhub

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"

	"github.com/postee-fleet/posteed/agent/action/actiontest"
)

const processSecret = "process-secret-key"

// script writes an executable shell script into a temporary directory and
// returns its path, with an argument the errors must not show.
func script(t *testing.T, body string) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	return writeFile(t, t.TempDir(), "helper", "#!/bin/sh\n"+body+"\n") + " --password=hunter2"
}

func TestCredentialProcess(t *testing.T) {
	good := `echo '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "` + processSecret + `", "SessionToken": "tok", "Expiration": "2030-01-02T03:04:05Z"}'`
	tests := []struct {
		name, body string
		prefix     string // before the program: variables for it
		timeout    time.Duration
		want       credentials
		wantErr    string
		retry      bool
	}{
		{name: "keys, token and expiry", body: good,
			want: credentials{AccessKeyID: "AKIDPROC", SecretAccessKey: processSecret, SessionToken: "tok", Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{name: "keys that do not expire", body: `printf '{"Version":1,"AccessKeyId":"AKIDPROC","SecretAccessKey":"` + processSecret + `"}'`,
			want: credentials{AccessKeyID: "AKIDPROC", SecretAccessKey: processSecret}},
		{name: "environment passed on", body: `echo "{\"Version\":1,\"AccessKeyId\":\"$PROCESS_TEST_KEY\",\"SecretAccessKey\":\"s\"}"`,
			want: credentials{AccessKeyID: "AKIDFROMENV", SecretAccessKey: "s"}},
		{name: "wrong version", body: `echo '{"Version": 2, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "` + processSecret + `"}'`, wantErr: "Version 2, not 1"},
		{name: "no secret key", body: `echo '{"Version": 1, "AccessKeyId": "AKIDPROC"}'`, wantErr: "no AccessKeyId or SecretAccessKey"},
		{name: "not JSON", body: `echo 'AccessKeyId=AKIDPROC SecretAccessKey=` + processSecret + `'`, wantErr: "not the credentials JSON"},
		{name: "fails, its stderr not shown", body: "echo '" + processSecret + "'\necho 'warming up' >&2\necho '" + processSecret + "' >&2\nexit 3",
			wantErr: "exit status 3; it wrote 30 bytes to stderr, not shown"},
		{name: "fails, silently", body: "exit 4", wantErr: "exit status 4"},
		{name: "fails, with a secret set for it", prefix: "TOKEN=" + processSecret + " OTHER='a " + processSecret + "' ", body: "exit 5",
			wantErr: "exit status 5"},
		{name: "too much output", body: `head -c 100000 /dev/zero | tr '\0' x`, wantErr: "printed more than 65536 bytes"},
		{name: "too slow", body: "sleep 3", timeout: 200 * time.Millisecond, wantErr: "did not finish in 200ms", retry: true},
		{name: "too slow, with a child holding the output", body: "sleep 3 &\nsleep 3", timeout: 200 * time.Millisecond, wantErr: "did not finish", retry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PROCESS_TEST_KEY", "AKIDFROMENV")
			p := processSource{profile: "build", command: tt.prefix + script(t, tt.body), timeout: processTimeout}
			if tt.timeout != 0 {
				p.timeout = tt.timeout
			}
			start := time.Now()
			got, err := p.Retrieve(context.Background())
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Retrieve = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || retryable(err) != tt.retry {
				t.Fatalf("Retrieve error %v (retry %v); want %q (retry %v)", err, retryable(err), tt.wantErr, tt.retry)
			}
			if !strings.HasPrefix(err.Error(), `profile "build": credential_process "`) || !strings.Contains(err.Error(), `/helper": `) {
				t.Errorf("error does not name the profile and the program: %v", err)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			actiontest.NoSecret(t, err, processSecret)
			actiontest.NoSecret(t, err, "hunter2")
		})
	}
}

// The program named in errors is the command's first word after the
// variables set for it, never a word with a "=": it may be a secret.
func TestProgram(t *testing.T) {
	for _, tt := range []struct{ command, want string }{
		{"/usr/local/bin/helper --profile x", "/usr/local/bin/helper"},
		{"  helper", "helper"},
		{"TOKEN=abc helper --x", "helper"},
		{"A=1 B_2=2\thelper", "helper"},
		{`TOKEN="a b" helper`, "helper"},
		{`TOKEN='a b c' helper`, "helper"},
		{`TOKEN=a\ b helper`, "helper"},
		{`TOKEN="a \" b" helper`, "helper"},
		{"TOKEN=abc", ""},
		{"TOKEN='abc def", ""},
		{"=abc helper", ""},
		{"1X=abc helper", ""},
		{"/opt/x=y/helper", ""},
		{"", ""},
	} {
		if got := program(tt.command); got != tt.want || strings.Contains(got, "=") {
			t.Errorf("program(%q) = %q, want %q", tt.command, got, tt.want)
		}
	}
}

// The SDK's provider reads the same output the same way.
func TestCredentialProcessMatchesSDK(t *testing.T) {
	for _, out := range []string{
		`{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s", "SessionToken": "tok", "Expiration": "2030-01-02T03:04:05+02:00"}`,
		`{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s"}`,
		`{"version": 1, "accessKeyId": "AKIDPROC", "secretAccessKey": "s", "sessiontoken": "t"}`,
	} {
		command := script(t, "cat <<'EOF'\n"+out+"\nEOF")
		ours, err := processSource{profile: "p", command: command, timeout: processTimeout}.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sdk, err := processcreds.NewProvider(command).Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ours.AccessKeyID != sdk.AccessKeyID || ours.SecretAccessKey != sdk.SecretAccessKey || ours.SessionToken != sdk.SessionToken ||
			!ours.Expires.Equal(sdk.Expires) || ours.Expires.IsZero() == sdk.CanExpire {
			t.Errorf("%s:\n ours %+v\n SDK  %+v", out, ours, sdk)
		}
	}
}
