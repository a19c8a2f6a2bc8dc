package subst

import (
	"strconv"
	"strings"
)

// scanner follows JSON string state while Compile walks the text, so that
// a reference knows whether it stands inside a string literal.
type scanner struct {
	json     bool
	inString bool
	escaped  bool
}

func (s *scanner) advance(c byte) {
	if !s.json {
		return
	}
	switch {
	case s.escaped:
		s.escaped = false
	case s.inString && c == '\\':
		s.escaped = true
	case c == '"':
		s.inString = !s.inString
	}
}

// atReference reports whether a reference starts at text[i]. One glued to a
// preceding word (`myevent.input`) or to a longer word (`event.inputs`) is
// not a reference.
func (s *scanner) atReference(text string, i int) bool {
	if s.escaped || !strings.HasPrefix(text[i:], prefix) {
		return false
	}
	if i > 0 && (isKeyByte(text[i-1]) || text[i-1] == '.') {
		return false
	}
	end := i + len(prefix)
	return end == len(text) || !isKeyByte(text[end])
}

// step is one move into the event: a key, or an index in brackets. A key of
// digits also indexes an array (`.0`, as Postee's gjson paths did).
type step struct {
	key   string
	index int // -1 for a key step
}

// parsePath reads the steps after the prefix and returns how many bytes they
// took. It stops at the first byte that cannot continue a path, so a
// trailing "." or an unclosed "[" stays in the text.
func parsePath(s string) ([]step, int) {
	var path []step
	i := 0
	for i < len(s) {
		switch s[i] {
		case '.':
			n := keyLen(s[i+1:])
			if n == 0 {
				return path, i
			}
			path = append(path, step{key: s[i+1 : i+1+n], index: -1})
			i += 1 + n
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return path, i
			}
			idx, err := strconv.Atoi(s[i+1 : i+end])
			if err != nil || idx < 0 {
				return path, i
			}
			path = append(path, step{index: idx})
			i += end + 1
		default:
			return path, i
		}
	}
	return path, i
}

func keyLen(s string) int {
	n := 0
	for n < len(s) && isKeyByte(s[n]) {
		n++
	}
	return n
}

func isKeyByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
