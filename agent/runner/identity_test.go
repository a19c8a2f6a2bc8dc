package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
)

func TestCheckIdentity(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue(pki.Client, "postee-runner-2", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WritePair(dir, "r2", crt, key); err != nil {
		t.Fatal(err)
	}
	if err := CheckIdentity("postee-runner-2", dir+"/r2.crt"); err != nil {
		t.Fatalf("matching certificate refused: %v", err)
	}
	err = CheckIdentity("postee-runner-1", dir+"/r2.crt")
	if err == nil || !strings.Contains(err.Error(), `is for "postee-runner-2", but runner-name is "postee-runner-1"`) {
		t.Fatalf("mismatch: %v", err)
	}
	if err := CheckIdentity("x", dir+"/r2.key"); err == nil {
		t.Fatal("a key file accepted as certificate")
	}
	if err := CheckIdentity("x", ""); err != nil {
		t.Fatalf("no certificate (nkey or insecure mode): %v", err)
	}
}
