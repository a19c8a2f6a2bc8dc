package suggest

import (
	"slices"
	"testing"
)

func TestClosest(t *testing.T) {
	keys := []string{"name", "input", "input-files", "actions", "template", "serialize-actions", "runs-on", "plugins"}
	settings := []string{"url", "tls", "tls-cert", "tls-key", "body-limit", "controller-url", "controller-tls-cert", "controller-tls-key", "admin", "watch-config"}
	tests := []struct {
		word       string
		candidates []string
		want       string // "" for no suggestion
	}{
		{"templte", keys, "template"},
		{"Template", keys, "template"},
		{"actons", keys, "actions"},
		{"input-file", keys, "input-files"},
		{"runson", keys, "runs-on"},
		{"colour", keys, ""},
		{"body-limt", settings, "body-limit"},
		{"controller-tls", settings, "controller-tls-key"}, // contained in two: the closer in length, then alphabetical
		{"watch", settings, "watch-config"},
		{"ur", settings, "url"},
		{"ab", []string{"cd", "abcdef"}, ""}, // distance 2 is the whole word; too short to be contained
		{"xyz", settings, ""},
		{"tls-crt", settings, "tls-cert"},
		{"url", []string{"url"}, ""}, // the word itself is not a suggestion
		// equal distance: alphabetical, whatever the order given
		{"tls-ke", []string{"tls-key", "tls-kex"}, "tls-kex"},
		{"tls-ke", []string{"tls-kex", "tls-key"}, "tls-kex"},
	}
	for _, tt := range tests {
		got, ok := Closest(tt.word, tt.candidates)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Closest(%q) = %q, %v; want %q", tt.word, got, ok, tt.want)
		}
	}
}

// TestDeterministic: every order of the candidates gives the same answer.
func TestDeterministic(t *testing.T) {
	cands := []string{"tls-cert", "tls-key", "tls", "url", "admin", "tls-certs"}
	want, _ := Closest("tls-cer", cands)
	for range 50 {
		c := slices.Clone(cands)
		for i := range c { // a different permutation each round
			j := (i*7 + len(c)) % len(c)
			c[i], c[j] = c[j], c[i]
		}
		cands = c
		if got, _ := Closest("tls-cer", c); got != want {
			t.Fatalf("order %v: %q, want %q", c, got, want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	if got := DidYouMean("urll", []string{"url", "timeout"}); got != ` (did you mean "url"?)` {
		t.Errorf("got %q", got)
	}
	if got := DidYouMean("zzz", []string{"url"}); got != "" {
		t.Errorf("got %q", got)
	}
}
