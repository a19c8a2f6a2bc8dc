package subst

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// lookup walks path into v; ok is false when a step does not exist.
func lookup(v any, path []step) (any, bool) {
	for _, s := range path {
		switch c := v.(type) {
		case map[string]any:
			if s.index >= 0 {
				return nil, false
			}
			next, ok := c[s.key]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i := s.index
			if i < 0 {
				n, err := strconv.Atoi(s.key)
				if err != nil {
					return nil, false
				}
				i = n
			}
			if i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func writeValue(b *bytes.Buffer, v any, found bool, p part) {
	switch {
	case !found:
		if p.json && !p.inString {
			b.WriteString("null")
		}
	case p.json && p.inString:
		s, isString := v.(string)
		if !isString {
			s = encode(v)
		}
		q := encode(s)
		b.WriteString(q[1 : len(q)-1]) // the escaped text without its quotes
	case p.json:
		b.WriteString(encode(v))
	default:
		if s, isString := v.(string); isString {
			b.WriteString(s)
			return
		}
		b.WriteString(encode(v))
	}
}

// encode writes v as compact JSON without escaping <, > and &, which are
// fine in a request body and only hurt readability.
func encode(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Decoded JSON always encodes; anything else is written as null.
		return "null"
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
