package daemon

import (
	"log/slog"
	"net"
	"testing"
)

func TestOnlyActivated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name                string
		activated           map[string][]net.Listener
		wantHTTP, wantHTTPS string
	}{
		{"no activation binds the settings", nil, "0.0.0.0:8082", "0.0.0.0:8445"},
		{"https socket masked", map[string][]net.Listener{"http": {ln}}, "0.0.0.0:8082", ""},
		{"http socket masked", map[string][]net.Listener{"https": {ln}}, "", "0.0.0.0:8445"},
		{"both passed", map[string][]net.Listener{"http": {ln}, "https": {ln}}, "0.0.0.0:8082", "0.0.0.0:8445"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			http, https := "0.0.0.0:8082", "0.0.0.0:8445"
			OnlyActivated(tt.activated, map[string]*string{"http": &http, "https": &https}, slog.New(slog.DiscardHandler))
			if http != tt.wantHTTP || https != tt.wantHTTPS {
				t.Errorf("http %q https %q, want %q %q", http, https, tt.wantHTTP, tt.wantHTTPS)
			}
		})
	}
}
