package httpx

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientReusesConnections: sends through one action's client reuse
// its connections, one after another and at once, whatever the answer's
// status and size: the connections the server sees opened are bounded by
// how many sends run at once, not by how many there are. (The transport
// may dial for a send waiting for a busy connection and then pool both,
// hence a small multiple; the default transport opened hundreds here.)
func TestClientReusesConnections(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		perWorker   int // sends each
		status      int
		body        int // answer size in bytes
	}{
		{"one at a time", 1, 200, http.StatusOK, 10},
		{"16 at once", 16, 400, http.StatusOK, 10},
		{"16 at once, errors", 16, 400, http.StatusServiceUnavailable, 10},
		{"answers beyond the read limit", 4, 25, http.StatusOK, 1<<20 + 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opened atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, strings.Repeat("a", tt.body))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					opened.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			c := NewClient(5*time.Second, false)
			var wg sync.WaitGroup
			errs := make(chan error, tt.concurrency)
			for range tt.concurrency {
				wg.Go(func() {
					for i := range tt.perWorker {
						_, _, err := PostJSON(context.Background(), c, srv.URL+"/hook", []byte(`{"n":1}`), nil)
						if (err != nil) != (tt.status != http.StatusOK) {
							errs <- fmt.Errorf("send %d: %v", i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n, most := opened.Load(), int64(3*tt.concurrency); n > most {
				t.Errorf("%d sends, %d at a time, opened %d connections; want at most %d", tt.concurrency*tt.perWorker, tt.concurrency, n, most)
			}
		})
	}
}
