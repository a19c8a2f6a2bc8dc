package exec

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// shebang reads a `#!` first line the way Linux does: the interpreter, then
// everything else on the line as one optional argument. The interpreter is
// run by us with the script as an argument rather than by exec'ing the
// script, which avoids "text file busy" on a freshly written file.
func shebang(script string) (argv []string, ok bool, err error) {
	if !strings.HasPrefix(script, "#!") {
		return nil, false, nil
	}
	line, _, _ := strings.Cut(script[2:], "\n")
	line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	interp, arg := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		interp, arg = line[:i], strings.TrimSpace(line[i+1:])
	}
	if interp == "" {
		return nil, false, errors.New("#! line names no interpreter")
	}
	if !filepath.IsAbs(interp) {
		return nil, false, fmt.Errorf("#! interpreter %q is not an absolute path", interp)
	}
	if _, err := os.Stat(interp); err != nil {
		return nil, false, fmt.Errorf("#! interpreter: %w", err)
	}
	argv = []string{interp}
	if arg != "" {
		argv = append(argv, arg)
	}
	return argv, true, nil
}

// readHead returns the start of a file, enough for its #! line.
func readHead(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(buf[:n]), nil
}
