package sd

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCredential(t *testing.T) {
	creds := t.TempDir()
	for name, data := range map[string]string{
		"controller.crt": "-----BEGIN CERTIFICATE-----\n",
		"ca.crt":         "\n", // the unit's SetCredential= fallback
	} {
		if err := os.WriteFile(filepath.Join(creds, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, credDir, in string
		wantPath          string
		wantConfigured    bool
		wantErr           bool
	}{
		{name: "passed credential", credDir: creds, in: "controller.crt",
			wantPath: filepath.Join(creds, "controller.crt"), wantConfigured: true},
		{name: "blank fallback", credDir: creds, in: "ca.crt", wantPath: filepath.Join(creds, "ca.crt")},
		{name: "not in the unit", credDir: creds, in: "runner.key", wantErr: true},
		{name: "escapes the directory", credDir: creds, in: "../controller.crt", wantErr: true},
		{name: "absolute path", credDir: creds, in: "/etc/postee/tls/x.crt",
			wantPath: "/etc/postee/tls/x.crt", wantConfigured: true},
		{name: "outside systemd", in: "tls/x.crt", wantPath: "tls/x.crt", wantConfigured: true},
		{name: "empty name", credDir: creds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", tt.credDir)
			path, configured, err := Credential(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if path != tt.wantPath || configured != tt.wantConfigured {
				t.Errorf("Credential(%q) = %q, %v; want %q, %v", tt.in, path, configured, tt.wantPath, tt.wantConfigured)
			}
		})
	}
}
