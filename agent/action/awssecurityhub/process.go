package awssecurityhub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

const (
	// processTimeout bounds one run of a credential_process, the SDK's
	// default.
	processTimeout = time.Minute
	// maxProcessOutput bounds what is kept of its output; credentials
	// take well under 4 KiB.
	maxProcessOutput = 64 << 10
)

// processSource runs a profile's credential_process, as the SDK does on
// Unix (sh -c), and reads the credentials it prints (Version 1 JSON).
type processSource struct {
	profile string
	command string
	timeout time.Duration
}

// Retrieve runs the command. Errors name the profile and the program, not
// its arguments or the variables set before it (they may hold a secret),
// and never quote its output, stdout or stderr.
func (p processSource) Retrieve(ctx context.Context) (credentials, error) {
	out, err := p.run(ctx)
	if err == nil {
		var c credentials
		if c, err = parseProcessOutput(out); err == nil {
			return c, nil
		}
	}
	if name := program(p.command); name != "" {
		return credentials{}, fmt.Errorf("profile %q: credential_process %q: %w", p.profile, name, err)
	}
	return credentials{}, fmt.Errorf("profile %q: credential_process: %w", p.profile, err)
}

func (p processSource) run(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", p.command)
	stdout, stderr := &cappedBuffer{max: maxProcessOutput}, &byteCounter{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A child the shell left behind may hold the output open: stop
	// waiting for it soon after the shell is killed.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, &credentialError{err: fmt.Errorf("did not finish in %v", p.timeout), retry: true}
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil && stderr.n > 0:
		// What it said may be a secret (a helper echoing its request on
		// failure): its size only, so that the operator knows to run it.
		return nil, fmt.Errorf("%w; it wrote %d bytes to stderr, not shown", err, stderr.n)
	case err != nil:
		return nil, err
	case stdout.over:
		return nil, fmt.Errorf("printed more than %d bytes", maxProcessOutput)
	}
	return stdout.buf.Bytes(), nil
}

// parseProcessOutput reads the credentials JSON; without an Expiration,
// the keys do not expire.
func parseProcessOutput(out []byte) (credentials, error) {
	var v credentialsJSON
	if err := json.Unmarshal(out, &v); err != nil {
		return credentials{}, errors.New("its output is not the credentials JSON")
	}
	if v.Version != 1 {
		return credentials{}, fmt.Errorf("its output has Version %d, not 1", v.Version)
	}
	c := v.keys()
	if !c.valid() {
		return credentials{}, errors.New("its output has no AccessKeyId or SecretAccessKey")
	}
	return c, nil
}

// program is the command's program: its first word after the variables
// set for it ("TOKEN=abc helper" is helper), as sh splits words; "" when
// there is none, or when it has a "=" (it might be a value).
func program(command string) string {
	rest := command
	for {
		var word string
		word, rest = shellWord(strings.TrimLeft(rest, " \t\n"))
		switch {
		case isAssignment(word):
			continue
		case strings.Contains(word, "="):
			return ""
		}
		return word
	}
}

// shellWord splits s, which starts with a word, into that word and the
// rest, as sh does: a blank inside quotes or after a backslash is part of
// the word.
func shellWord(s string) (word, rest string) {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '\\':
			i++ // the next byte is literal, also inside double quotes
		case quote == '"':
			if c == '"' {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ' ' || c == '\t' || c == '\n':
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// isAssignment says whether word sets a variable: NAME=value.
func isAssignment(word string) bool {
	name, _, ok := strings.Cut(word, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range name {
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// byteCounter counts what is written to it.
type byteCounter struct{ n int64 }

func (b *byteCounter) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	return len(p), nil
}

// cappedBuffer keeps the first max bytes written to it and notes whether
// more came; it never fails a write, so the process is never blocked.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	if len(p) > room {
		b.over = true
		b.buf.Write(p[:max(room, 0)])
	} else {
		b.buf.Write(p)
	}
	return len(p), nil
}
