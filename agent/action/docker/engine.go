package docker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// engine speaks the few Docker Engine API calls a run needs, over the
// daemon's unix socket. Paths carry no API version: the daemon then
// answers with its own, and these calls have kept their shape across
// versions (and in Podman's compatible service).
type engine struct {
	client *http.Client
}

func newEngine(socket string) *engine {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &engine{client: &http.Client{Transport: tr}}
}

// apiError is an answer outside 2xx, with the daemon's message.
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("docker engine answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// transient says whether trying again later may help: the daemon is not
// reachable, or it answered 5xx.
func transient(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code >= 500
	}
	return !errors.Is(err, context.Canceled)
}

func notFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == http.StatusNotFound
}

// call sends one request; a non-nil out receives the JSON answer.
func (c *engine) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.request(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
	}
	return nil
}

// request sends one request and returns a 2xx response for the caller to read.
func (c *engine) request(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := "http://docker" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		var msg struct {
			Message string `json:"message"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &msg) != nil || msg.Message == "" {
			msg.Message = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, &apiError{Code: resp.StatusCode, Message: msg.Message})
	}
	return resp, nil
}

// ensureImage pulls ref unless the daemon already has it.
func (c *engine) ensureImage(ctx context.Context, ref string) error {
	err := c.call(ctx, http.MethodGet, "/images/"+ref+"/json", nil, nil, nil)
	if !notFound(err) {
		return err
	}
	name, tag := splitRef(ref)
	resp, err := c.request(ctx, http.MethodPost, "/images/create", url.Values{"fromImage": {name}, "tag": {tag}}, nil)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer resp.Body.Close()
	// The answer streams progress messages; a failure is one with an error.
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		if m.Error != "" {
			return fmt.Errorf("pull %s: %w", ref, &apiError{Code: http.StatusNotFound, Message: m.Error})
		}
	}
}

// splitRef separates an image reference into the name and the tag or
// digest the pull API wants; no tag means latest (an empty tag would pull
// every tag).
func splitRef(ref string) (name, tag string) {
	if n, digest, ok := strings.Cut(ref, "@"); ok {
		return n, digest
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// containerSpec is the body of POST /containers/create.
type containerSpec struct {
	Image      string            `json:"Image"`
	Cmd        []string          `json:"Cmd,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
	HostConfig hostConfig        `json:"HostConfig"`
}

type hostConfig struct {
	NetworkMode string  `json:"NetworkMode,omitempty"`
	Mounts      []mount `json:"Mounts,omitempty"`
}

func (c *engine) create(ctx context.Context, name string, spec containerSpec) (string, error) {
	var created struct {
		ID string `json:"Id"`
	}
	if err := c.call(ctx, http.MethodPost, "/containers/create", url.Values{"name": {name}}, spec, &created); err != nil {
		return "", err
	}
	if created.ID == "" {
		return "", errors.New("create container: the answer has no Id")
	}
	return created.ID, nil
}

func (c *engine) start(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/containers/"+id+"/start", nil, nil, nil)
}

// wait blocks until the container has stopped and returns its exit code.
func (c *engine) wait(ctx context.Context, id string) (int, error) {
	var res struct {
		StatusCode int `json:"StatusCode"`
		Error      *struct {
			Message string `json:"Message"`
		} `json:"Error"`
	}
	if err := c.call(ctx, http.MethodPost, "/containers/"+id+"/wait", url.Values{"condition": {"not-running"}}, nil, &res); err != nil {
		return -1, err
	}
	if res.Error != nil && res.Error.Message != "" {
		return res.StatusCode, fmt.Errorf("wait: %s", res.Error.Message)
	}
	return res.StatusCode, nil
}

// logs reads the container's output (stdout and stderr, interleaved) into w.
func (c *engine) logs(ctx context.Context, id string, w io.Writer) error {
	resp, err := c.request(ctx, http.MethodGet, "/containers/"+id+"/logs", url.Values{"stdout": {"1"}, "stderr": {"1"}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return demux(resp.Body, w)
}

// demux copies a multiplexed log stream (no TTY): frames of an 8-byte
// header, whose last 4 bytes are the big-endian payload size, then the
// payload.
func demux(r io.Reader, w io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
	}
}

// remove deletes the container, stopping it first if it still runs.
func (c *engine) remove(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/containers/"+id, url.Values{"force": {"1"}, "v": {"1"}}, nil, nil)
}
