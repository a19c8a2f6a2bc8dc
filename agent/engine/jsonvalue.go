package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// parseValue decodes one JSON document straight into a Rego value. It
// replaces json.Decoder + ast.InterfaceToValue, which built every value
// twice and were half of a runner's CPU per Tracee line. Numbers keep their
// text (as json.Number does), duplicate keys keep the last value, invalid
// UTF-8 in strings becomes U+FFFD: the same value encoding/json gives.
func parseValue(data []byte) (ast.Value, error) {
	p := jsonParser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errorf("trailing data after the first JSON value")
	}
	return v, nil
}

const maxDepth = 1000

type jsonParser struct {
	data []byte
	pos  int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (ast.Value, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of JSON input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return ast.String(s), err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"):
		return ast.Boolean(true), nil
	case p.literal("false"):
		return ast.Boolean(false), nil
	case p.literal("null"):
		return ast.Null{}, nil
	default:
		return nil, p.errorf("invalid character %q looking for a value", c)
	}
}

func (p *jsonParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *jsonParser) object(depth int) (ast.Value, error) {
	p.pos++ // {
	var terms [][2]*ast.Term
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return ast.NewObject(), nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after an object key")
		}
		p.pos++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		terms = append(terms, [2]*ast.Term{key, ast.NewTerm(v)})
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of JSON input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			if !repeatedKey(terms) {
				return ast.NewObject(terms...), nil // one allocation for all entries
			}
			obj := ast.NewObject()
			for _, kv := range terms { // Insert: a repeated key keeps its last value
				obj.Insert(kv[0], kv[1])
			}
			return obj, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object")
		}
	}
}

// repeatedKey reports whether a key occurs twice (NewObject would keep both).
func repeatedKey(terms [][2]*ast.Term) bool {
	if len(terms) > 32 {
		seen := make(map[ast.String]struct{}, len(terms))
		for _, kv := range terms {
			k := kv[0].Value.(ast.String)
			if _, dup := seen[k]; dup {
				return true
			}
			seen[k] = struct{}{}
		}
		return false
	}
	for i := 1; i < len(terms); i++ {
		for j := 0; j < i; j++ {
			if terms[i][0].Value.(ast.String) == terms[j][0].Value.(ast.String) {
				return true
			}
		}
	}
	return false
}

func (p *jsonParser) array(depth int) (ast.Value, error) {
	p.pos++ // [
	var terms []*ast.Term
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return ast.NewArray(), nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		terms = append(terms, ast.NewTerm(v))
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of JSON input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return ast.NewArray(terms...), nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array")
		}
	}
}

// Object keys repeat from event to event (every Tracee line has the same
// ~40), so their terms are shared rather than allocated per event: a term
// is never modified once built. The table is bounded; keys past it are
// allocated as usual.
var (
	keyTerms    sync.Map // string → *ast.Term
	keyTermsLen atomic.Int64
)

const maxKeyTerms = 8192

func (p *jsonParser) key() (*ast.Term, error) {
	start := p.pos
	s, err := p.str()
	if err != nil {
		return nil, err
	}
	raw := p.data[start+1 : p.pos-1]
	if t, ok := keyTerms.Load(string(raw)); ok { // no allocation for the lookup
		return t.(*ast.Term), nil
	}
	t := ast.StringTerm(s)
	if keyTermsLen.Load() < maxKeyTerms && string(raw) == s {
		if _, loaded := keyTerms.LoadOrStore(s, t); !loaded {
			keyTermsLen.Add(1)
		}
	}
	return t, nil
}

// str reads a string; without escapes (the common case) it is one copy.
func (p *jsonParser) str() (string, error) {
	start := p.pos
	p.pos++ // "
	plain := true
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			raw := p.data[start+1 : p.pos-1]
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
				return "", p.errorf("bad string: %v", err)
			}
			return s, nil
		case c == '\\':
			plain = false
			p.pos += 2
		case c < 0x20:
			return "", p.errorf("control character in a string")
		default:
			p.pos++
		}
	}
	return "", p.errorf("unexpected end of JSON input in a string")
}

var errNumber = errors.New("bad number")

func (p *jsonParser) number() (ast.Value, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case p.digits() == 0:
		return nil, p.errorf("%v", errNumber)
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, p.errorf("%v", errNumber)
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, p.errorf("%v", errNumber)
		}
	}
	text := string(p.data[start:p.pos])
	if t := ast.InternedIntNumberTermFromString(text); t != nil {
		return t.Value, nil
	}
	v, err := ast.NumberChecked(text) // refuses what overflows, as OPA does
	if err != nil {
		return nil, p.errorf("%v", err)
	}
	return v, nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}
