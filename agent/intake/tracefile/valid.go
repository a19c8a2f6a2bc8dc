package tracefile

// validJSON is json.Valid, more than twice as fast: encoding/json's
// scanner calls a function per byte, and checking every line with it was
// a tenth of a runner's CPU per Tracee line. It accepts what json.Valid
// accepts (valid_test.go holds it to that): one value between optional
// whitespace, bytes of any value in strings, and at most maxNesting
// arrays and objects inside one another.
func validJSON(data []byte) bool {
	v := validator{data: data}
	v.space()
	if !v.value(0) {
		return false
	}
	v.space()
	return v.pos == len(data)
}

// maxNesting is encoding/json's limit.
const maxNesting = 10000

type validator struct {
	data []byte
	pos  int
}

func (v *validator) space() {
	data, i := v.data, v.pos // locals: the loops stay in registers
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	v.pos = i
}

// next skips whitespace and reports the byte there (0 at the end).
func (v *validator) next() byte {
	v.space()
	if v.pos < len(v.data) {
		return v.data[v.pos]
	}
	return 0
}

func (v *validator) value(depth int) bool {
	switch v.next() {
	case '{':
		return depth < maxNesting && v.object(depth+1)
	case '[':
		return depth < maxNesting && v.array(depth+1)
	case '"':
		return v.str()
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return v.number()
	case 't':
		return v.literal("true")
	case 'f':
		return v.literal("false")
	case 'n':
		return v.literal("null")
	}
	return false
}

func (v *validator) literal(word string) bool {
	if len(v.data)-v.pos >= len(word) && string(v.data[v.pos:v.pos+len(word)]) == word {
		v.pos += len(word)
		return true
	}
	return false
}

func (v *validator) object(depth int) bool {
	v.pos++ // {
	if v.next() == '}' {
		v.pos++
		return true
	}
	for {
		if v.next() != '"' || !v.str() || v.next() != ':' {
			return false
		}
		v.pos++
		if !v.value(depth) {
			return false
		}
		switch v.next() {
		case ',':
			v.pos++
		case '}':
			v.pos++
			return true
		default:
			return false
		}
	}
}

func (v *validator) array(depth int) bool {
	v.pos++ // [
	if v.next() == ']' {
		v.pos++
		return true
	}
	for {
		if !v.value(depth) {
			return false
		}
		switch v.next() {
		case ',':
			v.pos++
		case ']':
			v.pos++
			return true
		default:
			return false
		}
	}
}

// plain marks the bytes a string holds as they are: not a quote, a
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (v *validator) str() bool {
	data, i := v.data, v.pos+1 // after the quote
	for i < len(data) {
		switch c := data[i]; {
		case plain[c]:
			i++
		case c == '"':
			v.pos = i + 1
			return true
		case c == '\\':
			v.pos = i
			if !v.escape() {
				return false
			}
			i = v.pos
		default: // a control character
			return false
		}
	}
	return false
}

func (v *validator) escape() bool {
	if v.pos+1 >= len(v.data) {
		return false
	}
	switch v.data[v.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		v.pos += 2
		return true
	case 'u':
		if v.pos+6 > len(v.data) {
			return false
		}
		for _, h := range v.data[v.pos+2 : v.pos+6] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return false
			}
		}
		v.pos += 6
		return true
	}
	return false
}

func (v *validator) number() bool {
	if v.data[v.pos] == '-' {
		v.pos++
	}
	switch {
	case v.pos < len(v.data) && v.data[v.pos] == '0':
		v.pos++
	case v.digits() == 0:
		return false
	}
	if v.pos < len(v.data) && v.data[v.pos] == '.' {
		v.pos++
		if v.digits() == 0 {
			return false
		}
	}
	if v.pos < len(v.data) && (v.data[v.pos] == 'e' || v.data[v.pos] == 'E') {
		v.pos++
		if v.pos < len(v.data) && (v.data[v.pos] == '+' || v.data[v.pos] == '-') {
			v.pos++
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

func (v *validator) digits() int {
	data, i := v.data, v.pos
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	n := i - v.pos
	v.pos = i
	return n
}
