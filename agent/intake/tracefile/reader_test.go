package tracefile

import (
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	type got struct {
		off  int64
		data string
		long bool
	}
	tests := []struct {
		name  string
		input string
		max   int
		want  []got
	}{
		{"lines", "a\nbb\n", 10, []got{{0, "a", false}, {2, "bb", false}}},
		{"partial held", "a\nbb", 10, []got{{0, "a", false}}},
		{"empty line", "\n\na\n", 10, []got{{0, "", false}, {1, "", false}, {2, "a", false}}},
		{"at limit", "12345\n", 5, []got{{0, "12345", false}}},
		{"over limit", "123456\nok\n", 5, []got{{0, "", true}, {7, "ok", false}}},
		{"far over limit", strings.Repeat("x", 100) + "\nok\n", 5, []got{{0, "", true}, {101, "ok", false}}},
		{"over limit partial", "ok\n" + strings.Repeat("x", 100), 5, []got{{0, "ok", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := newLineReader(iotest.OneByteReader(strings.NewReader(tt.input)), 0, tt.max)
			var lines []got
			for {
				l, ok, err := lr.next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				lines = append(lines, got{l.offset, string(l.data), l.tooLong})
				if l.offset+l.size > lr.readPos() {
					t.Fatalf("line ends at %d beyond read position %d", l.offset+l.size, lr.readPos())
				}
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("lines = %+v, want %+v", lines, tt.want)
			}
			for i := range lines {
				if lines[i] != tt.want[i] {
					t.Errorf("line %d = %+v, want %+v", i, lines[i], tt.want[i])
				}
			}
			if len(lr.buf) > tt.max+1 {
				t.Errorf("buffer grew to %d, limit is %d", len(lr.buf), tt.max+1)
			}
		})
	}
}

// A line completed by a later write comes out whole at its first offset.
func TestLineReaderResumesPartial(t *testing.T) {
	r := &growing{}
	lr := newLineReader(r, 0, 100)
	r.s = `{"a":`
	if _, ok, _ := lr.next(); ok {
		t.Fatal("partial line returned")
	}
	r.s += "1}\n"
	l, ok, err := lr.next()
	if err != nil || !ok || string(l.data) != `{"a":1}` || l.offset != 0 || l.size != 8 {
		t.Fatalf("got %+v ok=%v err=%v", l, ok, err)
	}
}

// growing is a file being appended to: reads return what was added since.
type growing struct {
	s   string
	off int
}

func (g *growing) Read(p []byte) (int, error) {
	n := copy(p, g.s[g.off:])
	g.off += n
	if n == 0 {
		return 0, nil
	}
	return n, nil
}
