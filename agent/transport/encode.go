package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// ErrTooLarge marks a message that the NATS server will never take, however
// often it is sent: the intake answers 413 for the event behind it instead
// of a 200 (the event would be dropped later) or a 503 (sending it again
// cannot help).
var ErrTooLarge = errors.New("too large for the controller-runner channel")

// HeaderRoom is what EncodeFor leaves under the server's max payload for
// the headers sent with a message (Nats-Msg-Id), which count towards it.
const HeaderRoom = 4 << 10

// Marshal encodes v as JSON without the HTML escaping of encoding/json:
// json.Marshal writes <, > and & (and the same characters inside a
// json.RawMessage) as six-byte \u003c escapes, so an event made of them
// grew six-fold on its way between runner and controller and no longer
// fit the server's max payload. No byte changes meaning without it: the
// receiver decodes JSON, it never embeds it in HTML.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// EncodeFor is Marshal for a message published on nc: the result wraps
// ErrTooLarge when the server nc is connected to (or was last connected
// to) would refuse it for its size. Before nc has ever connected the limit
// is unknown and nothing is refused. nc may be nil.
func EncodeFor(nc *nats.Conn, v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := Fits(nc, len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// Fits is nil when a message of size bytes (headers aside) can be published
// on nc, and wraps ErrTooLarge when the server nc is (or was last)
// connected to would refuse it. Before nc has ever connected the limit is
// unknown and nothing is refused. nc may be nil.
func Fits(nc *nats.Conn, size int) error {
	if nc == nil {
		return nil
	}
	if max := nc.MaxPayload(); max > 0 && int64(size)+HeaderRoom > max {
		return fmt.Errorf("%w: %d bytes encoded, the server takes at most %d", ErrTooLarge, size, max-HeaderRoom)
	}
	return nil
}
