package actiontest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// NoSecret fails the test when secret, or its URL-escaped forms, appears in
// text: an error, a string, []byte or anything with a String method (such as
// *Logs). A nil error has no text and passes.
func NoSecret(t testing.TB, text any, secret string) {
	t.Helper()
	if secret == "" {
		t.Fatal("actiontest: NoSecret needs a non-empty secret")
	}
	s := textOf(text)
	for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		if strings.Contains(s, form) {
			t.Fatalf("secret leaked: %q contains %q", s, form)
		}
	}
}

func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case error:
		return x.Error()
	case string:
		return x
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}
