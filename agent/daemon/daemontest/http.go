package daemontest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// FreeAddr returns a loopback address nothing listens on right now, for a
// daemon that must be told its port before it starts.
func FreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Answer is the intake's reply to an event.
type Answer struct {
	EventID string   `json:"event_id"`
	Routes  []string `json:"routes"`
	Error   string   `json:"error"`
}

// Post sends an event to the intake at addr (host:port) and requires 200.
func Post(t *testing.T, addr string, event []byte) Answer {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Post("http://"+addr+"/", "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("post event: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post event: %s: %s", resp.Status, body)
	}
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("post event: answer %q: %v", body, err)
	}
	return a
}

// AwaitLines waits until file holds at least n lines and returns them.
func AwaitLines(t *testing.T, file string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(file)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d of %d lines after %s:\n%s", file, len(lines), n, timeout, b)
		}
		time.Sleep(10 * time.Millisecond) // polling the condition: a file gives no event
	}
}

// ReadFile returns file's content, failing the test if it cannot be read.
func ReadFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
