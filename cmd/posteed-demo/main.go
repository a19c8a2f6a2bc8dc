// Command posteed-demo runs the product's main job on one machine: a
// controller with its embedded TLS NATS server and a runner (postee-runner-1
// on "host" node-1), both on loopback, handling the sample events in
// testdata/events. It prints what happened and exits.
//
//	go run ./cmd/posteed-demo [-events testdata/events] [-v]
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/postee-fleet/posteed/agent/action/all"
	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/runner"
	"github.com/postee-fleet/posteed/controller"
)

//go:embed demo.yaml
var demoConfig string

//go:embed tracee-filter.rego
var traceeFilter string

func main() { os.Exit(run()) }

func run() int {
	events := flag.String("events", "testdata/events", "directory with the sample events")
	verbose := flag.Bool("v", false, "show the daemons' logs")
	flag.Parse()
	d, err := newDemo(*events, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer d.close()
	if err := d.play(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}

type demo struct {
	dir, events string
	out         string // the runner's exec output
	log         *slog.Logger
	recv        *httptest.Server
	mu          sync.Mutex
	soc         []string // bodies the SOC webhook received; guarded by mu
	ctrl        *controller.Controller
	run         *runner.Runner
	stop        []func()
}

func newDemo(events string, verbose bool) (*demo, error) {
	dir, err := os.MkdirTemp("", "posteed-demo-")
	if err != nil {
		return nil, err
	}
	d := &demo{dir: dir, events: events, out: filepath.Join(dir, "runner-exec.log")}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	d.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	d.recv = httptest.NewServer(http.HandlerFunc(d.receive))
	return d, nil
}

func (d *demo) receive(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	d.soc = append(d.soc, string(b))
	d.mu.Unlock()
}

func (d *demo) close() {
	for i := len(d.stop) - 1; i >= 0; i-- {
		d.stop[i]()
	}
	d.recv.Close()
	os.RemoveAll(d.dir)
}

func (d *demo) play() error {
	step("1. certificates: a dev CA, the controller's server certificate, postee-runner-1's client certificate (naming its host node-1)")
	if err := d.certs(); err != nil {
		return err
	}
	cfg := strings.NewReplacer("{{RECEIVER}}", d.recv.URL, "{{OUT}}", d.out).Replace(demoConfig)
	if err := os.WriteFile(filepath.Join(d.dir, "cfg.yaml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "tracee-filter.rego"), []byte(traceeFilter), 0o600); err != nil {
		return err
	}
	step("2. controller: HTTP intake and embedded NATS (TLS, per-runner identity) on loopback")
	if err := d.startController(); err != nil {
		return err
	}
	fmt.Printf("   intake http://%s, NATS %s\n", d.ctrl.HTTPAddr(), d.ctrl.NATSURL())
	step("3. runner postee-runner-1 (host node-1) bootstraps its config slice from the controller")
	traceeFile := filepath.Join(d.dir, "tracee", "out.jsonl")
	if err := d.startRunner(traceeFile); err != nil {
		return err
	}
	select {
	case <-d.run.Applied():
	case <-time.After(15 * time.Second):
		return fmt.Errorf("the runner got no config")
	}
	fmt.Printf("   runner applied config revision %d with %d route(s); intake %s\n", d.run.Revision(), len(d.run.Engine().Routes()), strings.Join(d.run.Intake(), " "))
	return d.sendEvents(traceeFile)
}

func (d *demo) certs() error {
	ca, err := pki.NewCA("posteed demo CA")
	if err != nil {
		return err
	}
	if err := pki.WriteCA(d.dir, ca); err != nil {
		return err
	}
	crt, key, err := ca.Issue(pki.Server, "localhost", []string{"localhost", "127.0.0.1"}, 24*time.Hour)
	if err != nil {
		return err
	}
	if err := pki.WritePair(d.dir, "controller", crt, key); err != nil {
		return err
	}
	crt, key, err = ca.Issue(pki.Client, "postee-runner-1", []string{"node-1"}, 24*time.Hour)
	if err != nil {
		return err
	}
	return pki.WritePair(d.dir, "postee-runner-1", crt, key)
}

func (d *demo) startController() error {
	ctx, cancel := context.WithCancel(context.Background())
	s := controller.Settings{
		CfgFile: filepath.Join(d.dir, "cfg.yaml"), URL: "127.0.0.1:0", Admin: "127.0.0.1:0", StateDir: filepath.Join(d.dir, "controller"), BodyLimit: 10 << 20,
		ControllerURL: "127.0.0.1:-1", ControllerTLSCert: filepath.Join(d.dir, "controller.crt"),
		ControllerTLSKey: filepath.Join(d.dir, "controller.key"), ControllerCARoot: filepath.Join(d.dir, "ca.crt"),
	}
	c, err := controller.New(ctx, controller.Options{Settings: s, Logger: d.log.With("daemon", "controller"), Notifier: quiet{}, Version: "demo"})
	if err != nil {
		cancel()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	d.stop = append(d.stop, func() { cancel(); <-done })
	select {
	case <-c.Ready():
	case err := <-done:
		return err
	}
	d.ctrl = c
	return nil
}

func (d *demo) startRunner(traceeFile string) error {
	if err := os.MkdirAll(filepath.Dir(traceeFile), 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := runner.Settings{
		Name: "postee-runner-1", ControllerURL: d.ctrl.NATSURL(),
		TLSCert: filepath.Join(d.dir, "postee-runner-1.crt"), TLSKey: filepath.Join(d.dir, "postee-runner-1.key"), CARoot: filepath.Join(d.dir, "ca.crt"),
		URL: "127.0.0.1:0", StateDir: filepath.Join(d.dir, "runner"), RuntimeDir: filepath.Join(d.dir, "runner-run"),
		BodyLimit: 10 << 20, TraceeFiles: []string{traceeFile},
	}
	r, err := runner.New(ctx, runner.Options{Settings: s, Logger: d.log.With("daemon", "postee-runner-1"), Notifier: quiet{}, Hostname: "node-1", Version: "demo"})
	if err != nil {
		cancel()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil) }()
	d.stop = append(d.stop, func() { cancel(); <-done })
	select {
	case <-r.Ready():
	case err := <-done:
		return err
	}
	d.run = r
	return nil
}

func (d *demo) sendEvents(traceeFile string) error {
	ctrl := "http://" + d.ctrl.HTTPAddr()
	step("4. a Trivy report and an image scan posted to the controller")
	for _, f := range []string{"trivy-image-report.json", "image-scan.json"} {
		if err := d.post(ctrl, f); err != nil {
			return err
		}
	}
	step("5. a legacy Tracee finding posted to the runner's webhook")
	if err := d.post(d.run.Intake()[0], "tracee-finding-legacy.json"); err != nil {
		return err
	}
	step("6. Tracee writes findings to a file the runner watches")
	lines, err := os.ReadFile(filepath.Join(d.events, "tracee-findings.jsonl"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(traceeFile, lines, 0o600); err != nil {
		return err
	}
	fmt.Printf("   %d lines appended to %s\n", bytes.Count(lines, []byte("\n")), traceeFile)
	step("7. a current-shape Tracee finding (hostName node-1) posted to the controller: origin-routed to the runner on node-1")
	if err := d.post(ctrl, "tracee-finding.json"); err != nil {
		return err
	}
	wantExec := 1 + bytes.Count(lines, []byte("\n")) + 1
	wantSOC := 2 + wantExec
	step("8. results")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (d.execCount() < wantExec || d.socCount() < wantSOC) {
		time.Sleep(50 * time.Millisecond)
	}
	d.report()
	if d.execCount() != wantExec || d.socCount() != wantSOC {
		return fmt.Errorf("expected %d runner actions and %d SOC messages, saw %d and %d", wantExec, wantSOC, d.execCount(), d.socCount())
	}
	fmt.Println("\ndemo ok: every event handled once, where its route placed it")
	return nil
}

func (d *demo) post(base, name string) error {
	body, err := os.ReadFile(filepath.Join(d.events, name))
	if err != nil {
		return err
	}
	resp, err := http.Post(base+"/", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var ans struct {
		EventID string   `json:"event_id"`
		Routes  []string `json:"routes"`
		Error   string   `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", name, resp.Status, ans.Error)
	}
	fmt.Printf("   %-28s -> event %s…, routes %v\n", name, ans.EventID[:8], ans.Routes)
	return nil
}

func (d *demo) execCount() int {
	b, _ := os.ReadFile(d.out)
	return bytes.Count(b, []byte("\n"))
}

func (d *demo) socCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.soc)
}

func (d *demo) report() {
	b, _ := os.ReadFile(d.out)
	fmt.Printf("   runner exec action (on node-1) ran %d times:\n", d.execCount())
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fmt.Println("     " + l)
	}
	d.mu.Lock()
	fmt.Printf("   SOC webhook (controller http action) received %d messages, e.g.:\n", len(d.soc))
	for i, s := range d.soc {
		if i == 3 {
			break
		}
		fmt.Println("     " + strings.TrimSpace(s))
	}
	d.mu.Unlock()
	resp, err := http.Get("http://" + d.ctrl.AdminAddr() + "/runners")
	if err == nil {
		defer resp.Body.Close()
		var list []controller.RunnerInfo
		_ = json.NewDecoder(resp.Body).Decode(&list)
		fmt.Println("   fleet view (GET /runners):")
		for _, r := range list {
			fmt.Printf("     %s host=%s config_revision=%d connected=%v pending_work=%d\n", r.Name, r.Host, r.ConfigRevision, r.Connected, r.PendingWork)
		}
	}
}

func step(s string) { fmt.Println("\n" + s) }

type quiet struct{}

func (quiet) Ready(string) error  { return nil }
func (quiet) Reloading() error    { return nil }
func (quiet) Status(string) error { return nil }
func (quiet) Stopping() error     { return nil }
