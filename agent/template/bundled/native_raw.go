package bundled

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// buffers hold encodings until they are copied into a result: growing a
// new buffer for each event cost more than the encoding. Buffers grown
// past maxPooled by a large event are left to the collector.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooled = 1 << 20

// encode returns what f appends to an empty buffer.
func encode(f func(dst []byte) ([]byte, bool)) (string, bool) {
	buf := buffers.Get().(*[]byte)
	b, ok := f((*buf)[:0])
	out := string(b)
	if cap(b) <= maxPooled {
		*buf = b
		buffers.Put(buf)
	}
	return out, ok
}

// rawJSON is postee.rawmessage.json.
func rawJSON(in ast.Value) (Output, bool) {
	result, ok := encode(func(dst []byte) ([]byte, bool) { return appendJSON(dst, in) })
	if !ok {
		return Output{}, false
	}
	return Output{Title: rawTitle(in), Result: result}, true
}

// rawHTML is postee.rawmessage.html: the JSON indented as
// json.MarshalIndent does, inside <pre>. encoding/json escapes &, < and >,
// so html_text has nothing to do.
func rawHTML(in ast.Value) (Output, bool) {
	result, ok := encode(func(dst []byte) ([]byte, bool) {
		dst, ok := appendIndentedJSON(append(dst, "<pre>"...), in)
		return append(dst, "</pre>"...), ok
	})
	if !ok {
		return Output{}, false
	}
	return Output{Title: rawTitle(in), Result: result}, true
}

// rawTitle is lib_raw's title.
func rawTitle(in ast.Value) string {
	for _, k := range []string{"ArtifactName", "image"} {
		if s, ok := field(in, k).(ast.String); ok && s != "" {
			return string(s)
		}
	}
	if isObject(field(in, "SigMetadata")) {
		return traceeTitle(in)
	}
	if _, ok := path(in, "metadata", "Properties", "signatureID").(ast.String); ok {
		return traceeTitle(in)
	}
	return "Postee raw message"
}
