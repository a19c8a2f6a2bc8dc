package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
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
	p := parsers.Get().(*jsonParser)
	defer p.release()
	p.data = data
	p.space()
	t, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errorf("trailing data after the first JSON value")
	}
	return t.Value, nil
}

const maxDepth = 1000

// jsonParser allocates little per value: the entries of the objects and
// arrays being read share two stacks, and terms come in blocks.
type jsonParser struct {
	data   []byte
	pos    int
	kvs    [][2]*ast.Term // entries of the objects being read, innermost last
	elems  []*ast.Term    // elements of the arrays being read, innermost last
	block  []ast.Term     // terms not handed out yet
	blocks int            // the size of the last block
}

// parsers keep their stacks from one event to the next.
var parsers = sync.Pool{New: func() any { return &jsonParser{} }}

// release returns p to parsers, holding no term of the event it read (its
// stacks hold some after an error) and not its block, which is the event's.
func (p *jsonParser) release() {
	clear(p.kvs[:cap(p.kvs)])
	clear(p.elems[:cap(p.elems)])
	*p = jsonParser{kvs: p.kvs[:0], elems: p.elems[:0]}
	parsers.Put(p)
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// term wraps v in a term from the current block. A block lives as long as
// any of its terms: the event's value, which holds them all. Most strings
// and numbers come from the caches, so the first block is small (a Tracee
// line takes about ten: its objects and arrays) and the next ones double.
func (p *jsonParser) term(v ast.Value) *ast.Term {
	if len(p.block) == 0 {
		p.blocks = min(p.blocks*2+16, 256)
		p.block = make([]ast.Term, p.blocks)
	}
	t := &p.block[0]
	p.block = p.block[1:]
	t.Value = v
	return t
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

func (p *jsonParser) value(depth int) (*ast.Term, error) {
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
		return p.stringTerm()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"):
		return ast.InternedTerm(true), nil
	case p.literal("false"):
		return ast.InternedTerm(false), nil
	case p.literal("null"):
		return ast.InternedNullTerm, nil
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

func (p *jsonParser) object(depth int) (*ast.Term, error) {
	p.pos++ // {
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return ast.InternedEmptyObject, nil
	}
	start := len(p.kvs)
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		key, err := p.stringTerm()
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
		p.kvs = append(p.kvs, [2]*ast.Term{key, v})
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of JSON input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			obj := newObject(p.kvs[start:])
			clear(p.kvs[start:]) // the stack must not keep terms alive
			p.kvs = p.kvs[:start]
			return p.term(obj), nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object")
		}
	}
}

// newObject builds an object of entries; ast.NewObject copies them, so
// they may be reused.
func newObject(entries [][2]*ast.Term) ast.Object {
	if !repeatedKey(entries) {
		return ast.NewObject(entries...) // one allocation for all entries
	}
	obj := ast.NewObject()
	for _, kv := range entries { // Insert: a repeated key keeps its last value
		obj.Insert(kv[0], kv[1])
	}
	return obj
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

func (p *jsonParser) array(depth int) (*ast.Term, error) {
	p.pos++ // [
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return ast.InternedEmptyArray, nil
	}
	start := len(p.elems)
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.elems = append(p.elems, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of JSON input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			arr := ast.NewArray(slices.Clone(p.elems[start:])...) // NewArray keeps its slice
			clear(p.elems[start:])
			p.elems = p.elems[:start]
			return p.term(arr), nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array")
		}
	}
}

// stringTerm reads a string. One without escapes (the common case) is
// looked up in strTerms first: keys and many values repeat from event to
// event (every Tracee line has the same ~40 keys).
func (p *jsonParser) stringTerm() (*ast.Term, error) {
	start := p.pos
	p.pos++ // "
	plain := true
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			raw := p.data[start+1 : p.pos-1]
			if t := strTerms.get(raw); t != nil {
				return t, nil
			}
			if plain && utf8.Valid(raw) {
				if len(raw) <= maxCachedText {
					s := string(raw)
					return strTerms.put(s, ast.StringTerm(s)), nil
				}
				return p.term(ast.String(raw)), nil
			}
			var s string // escapes, or invalid UTF-8 (each bad byte becomes U+FFFD)
			if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
				return nil, p.errorf("bad string: %v", err)
			}
			return p.term(ast.String(s)), nil
		case c == '\\':
			plain = false
			p.pos += 2
		case c < 0x20:
			return nil, p.errorf("control character in a string")
		default:
			p.pos++
		}
	}
	return nil, p.errorf("unexpected end of JSON input in a string")
}

var errNumber = errors.New("bad number")

func (p *jsonParser) number() (*ast.Term, error) {
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
	raw := p.data[start:p.pos]
	if t := ast.InternedIntNumberTermFromString(string(raw)); t != nil { // no allocation for the lookup
		return t, nil
	}
	if t := numTerms.get(raw); t != nil {
		return t, nil
	}
	v, err := ast.NumberChecked(string(raw)) // refuses what overflows, as OPA does
	if err != nil {
		return nil, p.errorf("%v", err)
	}
	if len(raw) <= maxCachedText {
		return numTerms.put(string(v), ast.NewTerm(v)), nil
	}
	return p.term(v), nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

// strTerms and numTerms hold the terms of recently seen short strings and
// numbers, shared by every event: a term is never modified once built.
var strTerms, numTerms = newTermCache(), newTermCache()

// termCache is a two-way set-associative cache of terms by their text: a
// text has two slots, and a new one takes either at random, so two texts
// that share a set in turn soon sit side by side. Its memory is bounded
// (slots × maxCachedText) and it needs no lock; a text that does not
// repeat only costs a slot.
type termCache struct {
	seed  maphash.Seed
	slots [4096]atomic.Pointer[cachedTerm]
}

type cachedTerm struct {
	text string
	term *ast.Term
}

// maxCachedText is the longest text cached: longer ones rarely repeat.
const maxCachedText = 128

func newTermCache() *termCache { return &termCache{seed: maphash.MakeSeed()} }

// set is the first of the two slots of a text with this hash.
func (c *termCache) set(hash uint64) int { return int(hash%(uint64(len(c.slots))/2)) * 2 }

// get returns the cached term of text, or nil.
func (c *termCache) get(text []byte) *ast.Term {
	if len(text) > maxCachedText {
		return nil
	}
	i := c.set(maphash.Bytes(c.seed, text))
	for j := i; j < i+2; j++ {
		if e := c.slots[j].Load(); e != nil && e.text == string(text) {
			return e.term
		}
	}
	return nil
}

// put caches t, the term of text (at most maxCachedText bytes), and
// returns it. text must not be the event's buffer, which t would keep.
func (c *termCache) put(text string, t *ast.Term) *ast.Term {
	i := c.set(maphash.String(c.seed, text)) // the hash of the same bytes
	c.slots[i+rand.IntN(2)].Store(&cachedTerm{text: text, term: t})
	return t
}
