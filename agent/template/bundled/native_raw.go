package bundled

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// buffers hold encodings until they are copied into a result: growing a
// new buffer for each event cost more than the encoding.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// rawJSON is postee.rawmessage.json.
func rawJSON(in ast.Value) (Output, bool) {
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	b, ok := appendJSON((*buf)[:0], in)
	*buf = b
	if !ok {
		return Output{}, false
	}
	return Output{Title: rawTitle(in), Result: string(b)}, true
}

// rawHTML is postee.rawmessage.html: the JSON indented as
// json.MarshalIndent does (Marshal, then Indent), inside <pre>.
func rawHTML(in ast.Value) (Output, bool) {
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	b, ok := appendJSON((*buf)[:0], in)
	*buf = b
	if !ok {
		return Output{}, false
	}
	var pretty bytes.Buffer
	pretty.Grow(len(b) * 2)
	pretty.WriteString("<pre>")
	if json.Indent(&pretty, b, "", "  ") != nil {
		return Output{}, false
	}
	body := pretty.Bytes()[len("<pre>"):]
	if bytes.ContainsAny(body, "&<>") { // encoding/json escaped them already
		return Output{}, false
	}
	pretty.WriteString("</pre>")
	return Output{Title: rawTitle(in), Result: pretty.String()}, true
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
