package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminURL(t *testing.T) {
	dir := t.TempDir()
	toml := func(body string) string {
		f := filepath.Join(t.TempDir(), "controller.toml")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name, url, file string
		explicit        bool
		want, err       string
	}{
		{"flag wins", "10.0.0.5:8083", toml(`admin = "127.0.0.1:1"`), true, "http://10.0.0.5:8083", ""},
		{"flag URL", "https://ctl.example.org:8443/", "", false, "https://ctl.example.org:8443", ""},
		{"from the file", "", toml(`admin = "127.0.0.1:18083"`), true, "http://127.0.0.1:18083", ""},
		{"wildcard is asked on loopback", "", toml(`admin = "0.0.0.0:8083"`), true, "http://127.0.0.1:8083", ""},
		{"IPv6 wildcard", "", toml(`admin = "[::]:8083"`), true, "http://[::1]:8083", ""},
		{"default file missing: default address", "", filepath.Join(dir, "none.toml"), false, "http://127.0.0.1:8083", ""},
		{"named file missing", "", filepath.Join(dir, "none.toml"), true, "", "cannot read settings"},
		{"listener off", "", toml(`admin = ""`), true, "", "the admin listener is off"},
		{"bad file", "", toml(`admn = "x"`), true, "", `unknown setting (did you mean "admin"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := adminURL(tt.url, tt.file, tt.explicit)
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("got %q, %v; want %q, %q", got, err, tt.want, tt.err)
			}
		})
	}
}
