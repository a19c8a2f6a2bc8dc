package bundled

import (
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// appendJSON writes v as encoding/json.Marshal writes it after ast.JSON
// (what json.marshal does): object keys sorted, numbers as their text,
// strings HTML-escaped. ok is false for a value Marshal would refuse (an
// invalid number) or ast.JSON would write otherwise (a set, a non-string
// key): the event is then left to the Rego.
func appendJSON(dst []byte, v ast.Value) ([]byte, bool) { return appendValue(dst, v, -1) }

// appendIndentedJSON writes v as json.MarshalIndent(v, "", "  ") does.
func appendIndentedJSON(dst []byte, v ast.Value) ([]byte, bool) { return appendValue(dst, v, 0) }

// appendValue writes v compact when depth is negative, else indented as
// at that depth.
func appendValue(dst []byte, v ast.Value, depth int) ([]byte, bool) {
	switch x := v.(type) {
	case ast.Null:
		return append(dst, "null"...), true
	case ast.Boolean:
		if x {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case ast.Number:
		return append(dst, x...), validNumber(string(x))
	case ast.String:
		return appendJSONString(dst, string(x)), true
	case *ast.Array:
		return appendArray(dst, x, depth)
	case ast.Object:
		return appendObject(dst, x, depth)
	}
	return dst, false
}

// newline starts a line at depth (nothing when compact).
func newline(dst []byte, depth int) []byte {
	if depth < 0 {
		return dst
	}
	dst = append(dst, '\n')
	for range depth {
		dst = append(dst, ' ', ' ')
	}
	return dst
}

// inner is the depth of a container's members.
func inner(depth int) int {
	if depth < 0 {
		return depth
	}
	return depth + 1
}

func appendArray(dst []byte, a *ast.Array, depth int) ([]byte, bool) {
	if a.Len() == 0 {
		return append(dst, "[]"...), true
	}
	dst = append(dst, '[')
	for i := range a.Len() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = newline(dst, inner(depth))
		var ok bool
		if dst, ok = appendValue(dst, a.Elem(i).Value, inner(depth)); !ok {
			return dst, false
		}
	}
	return append(newline(dst, depth), ']'), true
}

// appendObject writes o's members in its own order, which for string keys
// is encoding/json's (byte order).
func appendObject(dst []byte, o ast.Object, depth int) ([]byte, bool) {
	if o.Len() == 0 {
		return append(dst, "{}"...), true
	}
	dst = append(dst, '{')
	ok, first := true, true
	o.Until(func(k, v *ast.Term) bool {
		key, isStr := k.Value.(ast.String)
		if !isStr {
			ok = false
			return true
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(newline(dst, inner(depth)), string(key))
		dst = append(dst, ':')
		if depth >= 0 {
			dst = append(dst, ' ')
		}
		dst, ok = appendValue(dst, v.Value, inner(depth))
		return !ok
	})
	return append(newline(dst, depth), '}'), ok
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping on:
// <, > and & as \u00XX, control characters as \n-style or \u00XX escapes,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendByteEscape(dst, b)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			if r == utf8.RuneError {
				r = '\ufffd'
			}
			dst = append(dst, '\\', 'u', hexDigits[r>>12], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendByteEscape(dst []byte, b byte) []byte {
	switch b {
	case '\\', '"':
		return append(dst, '\\', b)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
}

// validNumber is the JSON number grammar encoding/json checks a
// json.Number against.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	switch {
	case s == "":
		return false
	case s[0] == '0':
		s = s[1:]
	case s[0] >= '1' && s[0] <= '9':
		s = digits(s[1:])
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		s = digits(s[2:])
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
		}
		if s == "" || !isDigit(s[0]) {
			return false
		}
		s = digits(s)
	}
	return s == ""
}

func digits(s string) string {
	for s != "" && isDigit(s[0]) {
		s = s[1:]
	}
	return s
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
