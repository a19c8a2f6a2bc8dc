package lite

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
)

// Runtime implements metrics.Registry: the go_* and process_* families of
// client_golang's Go and process collectors, same names, types and labels.
func (r *Registry) Runtime() {
	r.add(goFamilies, goNames...)
	r.add(processFamilies, processNames...)
}

var goNames = []string{"go_gc_duration_seconds", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_goroutines", "go_info",
	"go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total", "go_memstats_buck_hash_sys_bytes", "go_memstats_frees_total",
	"go_memstats_gc_sys_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_inuse_bytes",
	"go_memstats_heap_objects", "go_memstats_heap_released_bytes", "go_memstats_heap_sys_bytes", "go_memstats_last_gc_time_seconds",
	"go_memstats_mallocs_total", "go_memstats_mcache_inuse_bytes", "go_memstats_mcache_sys_bytes", "go_memstats_mspan_inuse_bytes",
	"go_memstats_mspan_sys_bytes", "go_memstats_next_gc_bytes", "go_memstats_other_sys_bytes", "go_memstats_stack_inuse_bytes",
	"go_memstats_stack_sys_bytes", "go_memstats_sys_bytes", "go_sched_gomaxprocs_threads", "go_threads"}

var processNames = []string{"process_cpu_seconds_total", "process_max_fds", "process_network_receive_bytes_total",
	"process_network_transmit_bytes_total", "process_open_fds", "process_resident_memory_bytes", "process_start_time_seconds",
	"process_virtual_memory_bytes", "process_virtual_memory_max_bytes"}

func value(name, typ, help string, v float64) family {
	return family{name: name, help: help, typ: typ, series: []series{{samples: []sample{{value: v}}}}}
}

func goFamilies(out []family) []family {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	summary := make([]sample, 0, 7)
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		summary = append(summary, sample{extra: `quantile="` + q + `"`, value: gc.PauseQuantiles[i].Seconds()})
	}
	summary = append(summary, sample{suffix: "_sum", value: gc.PauseTotal.Seconds()}, sample{suffix: "_count", value: float64(gc.NumGC)})
	rt := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	rtmetrics.Read(rt)
	threads, _ := runtime.ThreadCreateProfile(nil)
	g, c := "gauge", "counter"
	return append(out,
		family{name: "go_gc_duration_seconds", typ: "summary", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
			series: []series{{samples: summary}}},
		value("go_gc_gogc_percent", g, "Heap size target percentage configured by the user, otherwise 100.", rtValue(rt[0])),
		value("go_gc_gomemlimit_bytes", g, "Go runtime memory limit configured by the user, otherwise math.MaxInt64.", rtValue(rt[1])),
		value("go_goroutines", g, "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		family{name: "go_info", typ: g, help: "Information about the Go environment.",
			series: []series{{labels: pair("version", runtime.Version()), samples: []sample{{value: 1}}}}},
		value("go_memstats_alloc_bytes", g, "Number of bytes allocated in heap and currently in use.", float64(ms.Alloc)),
		value("go_memstats_alloc_bytes_total", c, "Total number of bytes allocated in heap until now, even if released already.", float64(ms.TotalAlloc)),
		value("go_memstats_buck_hash_sys_bytes", g, "Number of bytes used by the profiling bucket hash table.", float64(ms.BuckHashSys)),
		value("go_memstats_frees_total", c, "Total number of heap objects frees.", float64(ms.Frees)),
		value("go_memstats_gc_sys_bytes", g, "Number of bytes used for garbage collection system metadata.", float64(ms.GCSys)),
		value("go_memstats_heap_alloc_bytes", g, "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes.", float64(ms.HeapAlloc)),
		value("go_memstats_heap_idle_bytes", g, "Number of heap bytes waiting to be used.", float64(ms.HeapIdle)),
		value("go_memstats_heap_inuse_bytes", g, "Number of heap bytes that are in use.", float64(ms.HeapInuse)),
		value("go_memstats_heap_objects", g, "Number of currently allocated objects.", float64(ms.HeapObjects)),
		value("go_memstats_heap_released_bytes", g, "Number of heap bytes released to OS.", float64(ms.HeapReleased)),
		value("go_memstats_heap_sys_bytes", g, "Number of heap bytes obtained from system.", float64(ms.HeapSys)),
		value("go_memstats_last_gc_time_seconds", g, "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9),
		value("go_memstats_mallocs_total", c, "Total number of heap objects allocated, both live and gc-ed.", float64(ms.Mallocs)),
		value("go_memstats_mcache_inuse_bytes", g, "Number of bytes in use by mcache structures.", float64(ms.MCacheInuse)),
		value("go_memstats_mcache_sys_bytes", g, "Number of bytes used for mcache structures obtained from system.", float64(ms.MCacheSys)),
		value("go_memstats_mspan_inuse_bytes", g, "Number of bytes in use by mspan structures.", float64(ms.MSpanInuse)),
		value("go_memstats_mspan_sys_bytes", g, "Number of bytes used for mspan structures obtained from system.", float64(ms.MSpanSys)),
		value("go_memstats_next_gc_bytes", g, "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC)),
		value("go_memstats_other_sys_bytes", g, "Number of bytes used for other system allocations.", float64(ms.OtherSys)),
		value("go_memstats_stack_inuse_bytes", g, "Number of bytes obtained from system for stack allocator in non-CGO environments.", float64(ms.StackInuse)),
		value("go_memstats_stack_sys_bytes", g, "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys)),
		value("go_memstats_sys_bytes", g, "Number of bytes obtained from system.", float64(ms.Sys)),
		value("go_sched_gomaxprocs_threads", g, "The current runtime.GOMAXPROCS setting.", rtValue(rt[2])),
		value("go_threads", g, "Number of OS threads created.", float64(threads)),
	)
}

func rtValue(s rtmetrics.Sample) float64 {
	switch s.Value.Kind() {
	case rtmetrics.KindUint64:
		return float64(s.Value.Uint64())
	case rtmetrics.KindFloat64:
		return s.Value.Float64()
	}
	return 0
}

// processFamilies reads /proc/self (Linux); elsewhere it exports none.
func processFamilies(out []family) []family {
	stat, err := procfs.ReadStat(0)
	if err != nil || stat.Field(24) == "" {
		return out
	}
	field := func(n int) float64 { return float64(stat.Uint(n)) }
	g, c := "gauge", "counter"
	out = append(out,
		value("process_cpu_seconds_total", c, "Total user and system CPU time spent in seconds.", stat.CPU().Seconds()),
		value("process_virtual_memory_bytes", g, "Virtual memory size in bytes.", field(23)),
		value("process_resident_memory_bytes", g, "Resident memory size in bytes.", field(24)*float64(os.Getpagesize())),
	)
	if boot, ok := bootTime(); ok {
		out = append(out, value("process_start_time_seconds", g, "Start time of the process since unix epoch in seconds.", boot+field(22)/procfs.UserHZ))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		out = append(out, value("process_open_fds", g, "Number of open file descriptors.", float64(len(fds))))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		out = append(out, value("process_max_fds", g, "Maximum number of open file descriptors.", float64(lim.Cur)))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		out = append(out, value("process_virtual_memory_max_bytes", g, "Maximum amount of virtual memory available in bytes.", float64(lim.Cur)))
	}
	if rx, tx, ok := netBytes(); ok {
		out = append(out,
			value("process_network_receive_bytes_total", c, "Number of bytes received by the process over the network.", rx),
			value("process_network_transmit_bytes_total", c, "Number of bytes sent by the process over the network.", tx))
	}
	return out
}

func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			t, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return t, err == nil
		}
	}
	return 0, false
}

// netBytes sums the bytes received and sent on every interface of the
// process's network namespace, as procfs does.
func netBytes() (rx, tx float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/dev")
	if err != nil {
		return 0, 0, false
	}
	for _, l := range strings.Split(string(b), "\n") { // the two header lines have no counts after a colon
		_, counts, found := strings.Cut(l, ":")
		f := strings.Fields(counts)
		if !found || len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseFloat(f[0], 64)
		t, _ := strconv.ParseFloat(f[8], 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx, true
}
