package fleetsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// controllerProc is a posteed-controller process the simulation runs.
type controllerProc struct {
	*process
	toml        string
	http, admin string // host:port
	client      *http.Client
}

// controllerToml is a controller.toml for the simulation: intake and admin
// on loopback, no HTTPS intake, its own state directory.
func (s *sim) controllerToml(name string, extra string) (path string, httpAddr, adminAddr string, err error) {
	if httpAddr, err = freeAddr(); err != nil {
		return
	}
	if adminAddr, err = freeAddr(); err != nil {
		return
	}
	dir := filepath.Join(s.dir, name)
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	path = filepath.Join(dir, "controller.toml")
	toml := fmt.Sprintf(`cfgfile = %q
url = %q
tls = ""
admin = %q
state-dir = %q
log-level = "info"
controller-tls-cert = %q
controller-tls-key = %q
controller-ca-root = %q
%s`, s.cfgFile(), httpAddr, adminAddr, filepath.Join(dir, "state"), s.srvCert, s.srvKey, s.caFile, extra)
	err = os.WriteFile(path, []byte(toml), 0o600)
	return
}

// startController runs posteed-controller with its controller.toml and
// waits until it is ready (/readyz).
func (s *sim) startController(ctx context.Context, name, toml, httpAddr, adminAddr string) (*controllerProc, error) {
	logFile := filepath.Join(s.dir, name, "controller.log")
	// gctrace: the live heap after each collection, beside the RSS.
	args := []string{"run", "--config", toml}
	if s.o.ControllerMemoryLimit != "" {
		args = append(args, "--memory-limit", s.o.ControllerMemoryLimit)
	}
	p, err := startDaemon(name, s.o.ControllerBin, args, logFile, []string{"GODEBUG=gctrace=1"})
	if err != nil {
		return nil, err
	}
	c := &controllerProc{process: p, toml: toml, http: httpAddr, admin: adminAddr,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	s.ctls = append(s.ctls, c)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := c.client.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if c.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			b, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("%s not ready (exited: %v, %v):\n%s", name, c.exited(), c.err, tail(string(b), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// startEmbedded runs one controller with its embedded NATS server.
func (s *sim) startEmbedded(ctx context.Context) error {
	natsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	toml, httpAddr, adminAddr, err := s.controllerToml("controller-1", fmt.Sprintf("controller-url = %q\n", "nats://"+natsAddr))
	if err != nil {
		return err
	}
	if _, err := s.startController(ctx, "controller-1", toml, httpAddr, adminAddr); err != nil {
		return err
	}
	s.runnerURL = "tls://" + natsAddr
	return nil
}

// startCluster makes the servers' fragment with posteed-controller
// nats-config, starts the 3 servers including it, and two controllers on
// them.
func (s *sim) startCluster(ctx context.Context) error {
	seeds := filepath.Join(s.dir, "etc", "nats.toml")
	issuer, user := filepath.Join(s.dir, "etc", "nats-issuer.nk"), filepath.Join(s.dir, "etc", "nats-user.nk")
	if err := os.WriteFile(seeds, []byte(fmt.Sprintf("nats-issuer-seed = %q\nnats-user-seed = %q\n", issuer, user)), 0o600); err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.o.ControllerBin, "nats-config", "--config", seeds)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("posteed-controller nats-config: %w: %s", err, stderr.String())
	}
	var err error
	if s.cluster, err = startCluster(filepath.Join(s.dir, "cluster"), s.o.NATSServerBin, stdout.String(), s.srvCert, s.srvKey, s.caFile); err != nil {
		return err
	}
	var urls []string
	for _, srv := range s.cluster.Servers {
		urls = append(urls, fmt.Sprintf("%q", srv.URL))
	}
	extra := fmt.Sprintf("nats-servers = [%s]\nnats-issuer-seed = %q\nnats-user-seed = %q\n", strings.Join(urls, ", "), issuer, user)
	for i := range 2 {
		name := fmt.Sprintf("controller-%d", i+1)
		toml, httpAddr, adminAddr, err := s.controllerToml(name, extra)
		if err != nil {
			return err
		}
		if _, err := s.startController(ctx, name, toml, httpAddr, adminAddr); err != nil {
			return err
		}
	}
	s.runnerURL = s.cluster.URLs()
	return nil
}

// post sends an event to the controller's intake and returns its id.
func (c *controllerProc) post(ctx context.Context, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.http+"/", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.EventID == "" {
		return "", fmt.Errorf("answer without event id: %s", b)
	}
	return out.EventID, nil
}

// registryView is the fleet as a controller sees it (GET /runners).
type registryView struct {
	connected, current, pending int
	err                         error
}

func (s *sim) registry(ctx context.Context) registryView {
	var v registryView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.ctls[0].admin+"/runners", nil)
	if err != nil {
		v.err = err
		return v
	}
	resp, err := s.ctls[0].client.Do(req)
	if err != nil {
		v.err = err
		return v
	}
	defer resp.Body.Close()
	var list []struct {
		Connected     bool   `json:"connected"`
		ConfigCurrent bool   `json:"config_current"`
		PendingWork   uint64 `json:"pending_work"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		v.err = err
		return v
	}
	for _, r := range list {
		if r.Connected {
			v.connected++
			if r.ConfigCurrent {
				v.current++
			}
		}
		v.pending += int(r.PendingWork)
	}
	return v
}
