package transport

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// nameShaped accepts exactly what the pattern it replaced accepted.
func TestNameShapedIsThePattern(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
	cases := []string{"", "a", "-a", "_a", "a-", "a_b-c", "runner-1", "a.b", "a b", "é", "A9",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "a\n", "*", ">"}
	const alphabet = "aZ09-_. *>é\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(70) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		if got, want := nameShaped(c), re.MatchString(c); got != want {
			t.Fatalf("nameShaped(%q) = %v, the pattern says %v", c, got, want)
		}
	}
}
