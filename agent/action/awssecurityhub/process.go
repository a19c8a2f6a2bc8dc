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
// its arguments (they may hold a secret), and never quote its output.
func (p processSource) Retrieve(ctx context.Context) (credentials, error) {
	out, err := p.run(ctx)
	if err == nil {
		var c credentials
		if c, err = parseProcessOutput(out); err == nil {
			return c, nil
		}
	}
	return credentials{}, fmt.Errorf("profile %q: credential_process %q: %w", p.profile, program(p.command), err)
}

func (p processSource) run(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", p.command)
	stdout, stderr := &cappedBuffer{max: maxProcessOutput}, &cappedBuffer{max: 4 << 10}
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
	case err != nil:
		if line := lastLine(stderr.buf.String()); line != "" {
			return nil, fmt.Errorf("%w: %s", err, line)
		}
		return nil, err
	case stdout.over:
		return nil, fmt.Errorf("printed more than %d bytes", maxProcessOutput)
	}
	return stdout.buf.Bytes(), nil
}

// parseProcessOutput reads the credentials JSON; without an Expiration,
// the keys do not expire.
func parseProcessOutput(out []byte) (credentials, error) {
	var v struct {
		Version         int
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      *time.Time
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return credentials{}, errors.New("its output is not the credentials JSON")
	}
	if v.Version != 1 {
		return credentials{}, fmt.Errorf("its output has Version %d, not 1", v.Version)
	}
	c := credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken}
	if v.Expiration != nil {
		c.Expires = *v.Expiration
	}
	if !c.valid() {
		return credentials{}, errors.New("its output has no AccessKeyId or SecretAccessKey")
	}
	return c, nil
}

// program is the command's first word.
func program(command string) string {
	if f := strings.Fields(command); len(f) > 0 {
		return f[0]
	}
	return ""
}

// lastLine is the last non-blank line of s, at most 200 bytes of it: what
// a failing helper says last is usually why.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	line := strings.TrimSpace(lines[len(lines)-1])
	if len(line) > 200 {
		line = strings.ToValidUTF8(line[:200], "") + "…"
	}
	return line
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
