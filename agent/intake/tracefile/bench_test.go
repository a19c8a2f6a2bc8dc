package tracefile

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
)

const benchLines = 200000

// BenchmarkIngest times a follower reading a Tracee output file of
// benchLines findings into a handler that only counts.
func BenchmarkIngest(b *testing.B) {
	samples, err := os.ReadFile("../../../testdata/events/tracee-findings.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(samples), []byte("\n"))
	var elapsed time.Duration
	var bytesRead int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := writeBenchFile(b, lines)
		runtime.GC()
		b.StartTimer()
		t0 := time.Now()
		st := ingestOnce(b, path)
		elapsed += time.Since(t0)
		bytesRead += st.Bytes
	}
	secs := elapsed.Seconds()
	b.ReportMetric(float64(benchLines*b.N)/secs, "lines/s")
	b.ReportMetric(float64(bytesRead)/secs/1e6, "MB/s")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MiB")
	if hwm, ok := peakRSS(); ok {
		b.ReportMetric(float64(hwm)/(1<<10), "peak-rss-MiB")
	}
}

func writeBenchFile(b *testing.B, lines [][]byte) string {
	path := filepath.Join(b.TempDir(), "tracee.json")
	file, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(file)
	for i := range benchLines {
		w.Write(lines[i%len(lines)])
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := file.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func ingestOnce(b *testing.B, path string) Stats {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	f, err := New(Options{
		Paths:            []string{path},
		StateDir:         b.TempDir(),
		StartAtBeginning: true,
		Handle: func(_ context.Context, l Line) error {
			if n++; n == benchLines {
				cancel()
			}
			return nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Run(ctx); err != nil {
		b.Fatal(err)
	}
	if n != benchLines {
		b.Fatalf("handled %d lines, want %d", n, benchLines)
	}
	return f.Stats()
}

// peakRSS reads the process's resident high-water mark in KiB (Linux).
func peakRSS() (int64, bool) {
	status, err := procfs.Status(0)
	if err != nil {
		return 0, false
	}
	kb, err := procfs.KiB(status["VmHWM"])
	return kb, err == nil
}
