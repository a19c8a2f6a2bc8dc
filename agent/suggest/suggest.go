// Package suggest proposes the known word a misspelt one was meant to be,
// for "unknown key (did you mean ...?)" messages. It is the one suggestion
// algorithm of both daemons (cfg.yaml keys, TOML settings, action types), and
// deterministic: the same input always gets the same answer, whatever the
// order of the candidates.
package suggest

import (
	"fmt"
	"strings"
)

// maxDistance is the largest edit distance still taken for a typo: two
// edits catch a swapped or dropped letter pair ("templte", "tiemout")
// without proposing unrelated short words.
const maxDistance = 2

// Closest returns the candidate word was most likely meant to be, and
// whether there is one. The best candidate has the smallest edit distance
// (at most 2, and less than the word's length, so "ab" never becomes "cd");
// failing that, one that contains word or is contained in it
// ("controller-tls" for "controller-tls-cert"), the one closest in length.
// Ties go to the alphabetically first candidate.
func Closest(word string, candidates []string) (string, bool) {
	lw := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		if c == "" || c == word {
			continue
		}
		d := distance(lw, strings.ToLower(c))
		if d > maxDistance || d >= len(word) {
			continue
		}
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if bestD >= 0 {
		return best, true
	}
	bestD = -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if c == "" || c == word || len(c) < 3 || len(word) < 3 || !(strings.Contains(lc, lw) || strings.Contains(lw, lc)) {
			continue
		}
		d := abs(len(c) - len(word))
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	return best, bestD >= 0
}

// DidYouMean is Closest as a message suffix: ` (did you mean "x"?)`, or
// "" when nothing is close.
func DidYouMean(word string, candidates []string) string {
	if c, ok := Closest(word, candidates); ok {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
