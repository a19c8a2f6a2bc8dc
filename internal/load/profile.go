package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// profile is a CPU profile being taken of the controller.
type profile struct{ done chan error }

// startProfile asks the controller's /debug/pprof/profile for
// ProfileSeconds of CPU profile, written to Options.Profile (nothing
// without it).
func (r *run) startProfile(ctx context.Context) *profile {
	p := &profile{done: make(chan error, 1)}
	if r.o.Profile == "" {
		p.done <- nil
		return p
	}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.ctl.admin, r.o.ProfileSeconds)
	go func() {
		p.done <- func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			c := &http.Client{Timeout: time.Duration(r.o.ProfileSeconds)*time.Second + time.Minute}
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("%s: %s %s", url, resp.Status, b)
			}
			f, err := os.Create(r.o.Profile)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}()
	}()
	return p
}

func (p *profile) wait() error { return <-p.done }
