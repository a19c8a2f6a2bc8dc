package tracefile

import (
	"bytes"
	"io"
)

const readChunk = 256 << 10

// rawLine is one line cut from a file: its data, or tooLong when it was
// discarded for exceeding the limit.
type rawLine struct {
	offset  int64
	size    int64 // bytes including the newline
	data    []byte
	tooLong bool
}

// lineReader cuts lines from a file that may still be growing: a partial last
// line stays buffered until its newline arrives. Its memory is bounded by the
// line limit, because an over-long line is discarded as it streams.
type lineReader struct {
	r        io.Reader
	max      int
	buf      []byte
	start    int // buf[start:end] is read but not yet cut
	end      int
	pos      int64 // file offset of buf[start]
	skipping bool  // discarding the rest of an over-long line
	skipFrom int64 // where that line started
}

func newLineReader(r io.Reader, pos int64, max int) *lineReader {
	return &lineReader{r: r, max: max, pos: pos, buf: make([]byte, min(readChunk, max+1))}
}

// readPos is how far the underlying file has been read.
func (lr *lineReader) readPos() int64 { return lr.pos + int64(lr.end-lr.start) }

func (lr *lineReader) reset(pos int64) {
	lr.start, lr.end, lr.pos, lr.skipping = 0, 0, pos, false
}

// next returns the next complete line, or ok=false when none is complete yet.
// The returned data is valid until the next call.
func (lr *lineReader) next() (l rawLine, ok bool, err error) {
	for {
		if l, ok := lr.cut(); ok {
			return l, true, nil
		}
		n, err := lr.fill()
		if n == 0 {
			if err == io.EOF {
				err = nil
			}
			return rawLine{}, false, err
		}
	}
}

func (lr *lineReader) cut() (rawLine, bool) {
	data := lr.buf[lr.start:lr.end]
	i := bytes.IndexByte(data, '\n')
	switch {
	case lr.skipping && i < 0:
		lr.drop(len(data))
		return rawLine{}, false
	case lr.skipping:
		l := rawLine{offset: lr.skipFrom, size: lr.pos + int64(i) + 1 - lr.skipFrom, tooLong: true}
		lr.drop(i + 1)
		lr.skipping = false
		return l, true
	case i < 0:
		if len(data) > lr.max {
			lr.skipping, lr.skipFrom = true, lr.pos
			lr.drop(len(data))
		}
		return rawLine{}, false
	}
	l := rawLine{offset: lr.pos, size: int64(i) + 1}
	if i > lr.max {
		l.tooLong = true
	} else {
		l.data = data[:i]
	}
	lr.drop(i + 1)
	return l, true
}

func (lr *lineReader) drop(n int) {
	lr.start += n
	lr.pos += int64(n)
}

// fill reads more of the file, first making room: the partial line moves to
// the front, and the buffer grows only while that line is within the limit.
func (lr *lineReader) fill() (int, error) {
	if lr.start == lr.end {
		lr.start, lr.end = 0, 0
	}
	if lr.end == len(lr.buf) {
		if lr.start > 0 {
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start = 0
		} else {
			grown := make([]byte, min(2*len(lr.buf), lr.max+1))
			copy(grown, lr.buf[:lr.end])
			lr.buf = grown
		}
	}
	n, err := lr.r.Read(lr.buf[lr.end:])
	lr.end += n
	return n, err
}
