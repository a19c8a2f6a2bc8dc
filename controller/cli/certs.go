package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/pki"
	"github.com/postee-fleet/posteed/agent/transport"
)

// leaf is one certificate certs makes: the controller's or a runner's.
type leaf struct {
	file  string // dir/file.crt and .key
	kind  pki.Kind
	cn    string
	hosts []string
}

// certs makes the certificates of the runner channel in one directory: a
// CA (reused when the directory has one), the controller's server
// certificate and one client certificate per runner. Certificates already
// there are kept unless --renew; nothing is written when an argument is
// wrong.
func certs(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posteed-controller certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: posteed-controller certs --dir DIR [--controller-host HOST[,HOST...]] [flags] [RUNNER[=HOST,...]...]

Makes the certificates of the controller/runner channel in DIR: ca.crt and
ca.key (an existing CA in DIR is reused, never replaced), controller.crt/.key
for the embedded NATS server and RUNNER.crt/.key for each runner (its CN is
the runner's name). RUNNER=HOST,... also puts the runner host's DNS names or
addresses in its certificate. Certificates already in DIR are kept unless
--renew.

Flags:
`)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", ".", "certificate directory")
	host := fs.String("controller-host", "localhost", "names and addresses runners dial the controller by, comma-separated (localhost and 127.0.0.1 are added)")
	days := fs.Int("days", int(pki.DefaultValidity/(24*time.Hour)), "validity of the controller and runner certificates, in days (the CA lives 10 years)")
	renew := fs.Bool("renew", false, "reissue the controller's and the named runners' certificates that exist (same CA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *days <= 0 {
		return fmt.Errorf("--days %d: give a positive number of days", *days)
	}
	leaves, err := plan(*host, fs.Args())
	if err != nil {
		return err
	}
	ca, created, err := pki.OpenCA(*dir)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "wrote %s/ca.crt and ca.key (new CA, valid until %s): keep ca.key off the hosts\n", *dir, day(ca.Certificate().NotAfter))
	} else {
		fmt.Fprintf(stdout, "reusing %s/ca.crt (valid until %s)\n", *dir, day(ca.Certificate().NotAfter))
	}
	validity := time.Duration(*days) * 24 * time.Hour
	for _, l := range leaves {
		if err := issue(stdout, ca, *dir, l, validity, *renew); err != nil {
			return err
		}
	}
	return nil
}

// plan checks every name and host before anything is written.
func plan(controllerHosts string, runners []string) ([]leaf, error) {
	var errs []error
	hosts := []string{}
	for _, h := range strings.Split(controllerHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		errs = append(errs, errors.New("--controller-host: give at least one name"))
	}
	for _, h := range []string{"localhost", "127.0.0.1"} {
		if !contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	out := []leaf{}
	if len(errs) == 0 {
		out = append(out, leaf{file: "controller", kind: pki.Server, cn: hosts[0], hosts: hosts})
	}
	seen := map[string]bool{}
	for _, arg := range runners {
		name, sans, _ := strings.Cut(arg, "=")
		l := leaf{file: name, kind: pki.Client, cn: name}
		if err := transport.ValidName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		if name == "controller" || name == "ca" {
			errs = append(errs, fmt.Errorf("runner name %q: its files would be the %s's", name, name))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("runner %q given twice", name))
			continue
		}
		seen[name] = true
		for _, h := range strings.Split(sans, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if err := pki.ValidHost(h); err != nil {
				errs = append(errs, fmt.Errorf("runner %q: %w", name, err))
			}
			l.hosts = append(l.hosts, h)
		}
		out = append(out, l)
	}
	for _, h := range hosts {
		if err := pki.ValidHost(h); err != nil {
			errs = append(errs, fmt.Errorf("--controller-host: %w", err))
		}
	}
	return out, errors.Join(errs...)
}

func issue(stdout io.Writer, ca *pki.CA, dir string, l leaf, validity time.Duration, renew bool) error {
	there, err := pki.PairExists(dir, l.file)
	if err != nil {
		return err
	}
	if there && !renew {
		fmt.Fprintf(stdout, "keeping %s/%s.crt (exists; --renew reissues it)\n", dir, l.file)
		return nil
	}
	crt, key, err := ca.Issue(l.kind, l.cn, l.hosts, validity)
	if err != nil {
		return err
	}
	if err := pki.WritePair(dir, l.file, crt, key); err != nil {
		return err
	}
	what := "runner " + l.cn
	if l.kind == pki.Server {
		what = "controller"
	}
	san := ""
	if len(l.hosts) > 0 {
		san = ", names " + strings.Join(l.hosts, " ")
	}
	fmt.Fprintf(stdout, "wrote %s/%s.crt and .key (%s, CN %s%s, valid %d days)\n", dir, l.file, what, l.cn, san, int(validity/(24*time.Hour)))
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
