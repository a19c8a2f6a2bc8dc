package fleettest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteFile writes content to path, making its directory.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteCfg writes the controller's config, dir/cfg.yaml, and returns its
// path.
func WriteCfg(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "cfg.yaml")
	WriteFile(t, p, body)
	return p
}

// AppendFile appends content to path in one write.
func AppendFile(t testing.TB, path, content string) {
	t.Helper()
	if err := Append(path, content); err != nil {
		t.Fatal(err)
	}
}

// Append appends in one write, as a line-buffered producer does; it
// returns its error for a writer outside the test's goroutine.
func Append(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	return errors.Join(err, f.Close())
}

// ReadLines returns the lines of path; none if it is missing or empty.
func ReadLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Sample reads the module's testdata/events/name: a JSON document
// compacted to one line, JSON lines as they are.
func Sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b) // JSON lines
	}
	return buf.String()
}

// moduleRoot is the directory holding go.mod above the test's working
// directory, its package's directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
