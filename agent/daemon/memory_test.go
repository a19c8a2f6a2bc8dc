package daemon

import (
	"bytes"
	"flag"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"768MiB", 768 << 20, true},
		{"768M", 768 << 20, true},
		{"2GiB", 2 << 30, true},
		{"2g", 2 << 30, true},
		{"64 KiB", 64 << 10, true},
		{"10B", 10, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1M", 0, false},
		{"1.5G", 0, false},
		{"9999999999G", 0, false},
		{"12 apples", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for n, want := range map[int64]string{768 << 20: "768MiB", 2 << 30: "2GiB", 1536 << 20: "1536MiB", 1000: "1000B"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestMemoryLimitSetting: the setting parses as settings.Load sets it, and
// refuses what would choke a daemon.
func TestMemoryLimitSetting(t *testing.T) {
	for in, want := range map[string]string{"auto": "auto", "off": "off", "OFF": "off", "640MiB": "640MiB", "": "auto"} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		m := MemoryFlag(fs)
		if err := fs.Set("memory-limit", in); err != nil || m.String() != want {
			t.Errorf("memory-limit = %q: %v, %q; want %q", in, err, m.String(), want)
		}
	}
	for _, in := range []string{"1MiB", "lots", "-5"} {
		var m MemoryLimit
		if err := m.Set(in); err == nil {
			t.Errorf("memory-limit = %q accepted", in)
		}
	}
}

// cgroupTree fakes /sys/fs/cgroup and /proc/self/cgroup for a unit in
// system.slice: files maps a cgroup path's file to its content.
func cgroupTree(t *testing.T, files map[string]string) (root, self string) {
	return cgroupTreeOf(t, "0::/system.slice/postee-runner.service\n", files)
}

func cgroupTreeOf(t *testing.T, proc string, files map[string]string) (root, self string) {
	t.Helper()
	root = t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self = filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(self, []byte(proc), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, self
}

// TestMemoryLimitChosen: GOMEMLIMIT wins, then the setting, then 80% of the
// lowest MemoryHigh=/MemoryMax= on the unit's cgroup path; and the limit
// chosen is the runtime's.
func TestMemoryLimitChosen(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	unit := "system.slice/postee-runner.service/"
	tests := []struct {
		name     string
		setting  string
		gomem    string
		cgroup   map[string]string
		want     int64
		wantLogs string
	}{
		{"unit's MemoryHigh", "auto", "", map[string]string{unit + "memory.high": "805306368", unit + "memory.max": "1073741824"},
			614 << 20, "limit=614MiB source=cgroup"},
		{"a slice's bound is lower", "auto", "", map[string]string{unit + "memory.high": "max", unit + "memory.max": "max", "system.slice/memory.max": "536870912"},
			409 << 20, "source=cgroup"},
		{"no bound anywhere", "auto", "", map[string]string{unit + "memory.high": "max", unit + "memory.max": "max"},
			math.MaxInt64, "no memory limit"},
		{"setting wins over the cgroup", "300MiB", "", map[string]string{unit + "memory.high": "805306368"},
			300 << 20, "limit=300MiB source=memory-limit"},
		{"off", "off", "", map[string]string{unit + "memory.high": "805306368"},
			math.MaxInt64, "source=memory-limit"},
		{"GOMEMLIMIT wins", "300MiB", "123MiB", map[string]string{unit + "memory.high": "805306368"},
			123 << 20, "source=GOMEMLIMIT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomem)
			if tc.gomem != "" { // what the runtime did at start
				n, _ := ParseSize(tc.gomem)
				debug.SetMemoryLimit(n)
			}
			root, self := cgroupTree(t, tc.cgroup)
			var m MemoryLimit
			if err := m.Set(tc.setting); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			got := m.Apply(slog.New(slog.NewTextHandler(&logs, nil)), root, self)
			if got != tc.want || debug.SetMemoryLimit(-1) != tc.want {
				t.Errorf("limit %d (runtime %d), want %d", got, debug.SetMemoryLimit(-1), tc.want)
			}
			if !strings.Contains(logs.String(), tc.wantLogs) {
				t.Errorf("logged %q, want %q", logs.String(), tc.wantLogs)
			}
		})
	}
}

// TestMemoryLimitCgroupV1: on a v1 or hybrid hierarchy (no memory
// controller in v2) the memory controller's limit_in_bytes is the bound;
// v1's "unlimited" is none.
func TestMemoryLimitCgroupV1(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	t.Setenv("GOMEMLIMIT", "")
	hybrid := "12:pids:/system.slice/x.service\n4:memory:/system.slice/x.service\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n"
	for _, tc := range []struct {
		name  string
		limit string
		want  int64
	}{
		{"MemoryMax= on v1", "1073741824", 819 << 20},
		{"unlimited", "9223372036854771712", math.MaxInt64},
	} {
		root, self := cgroupTreeOf(t, hybrid, map[string]string{"memory/system.slice/x.service/memory.limit_in_bytes": tc.limit})
		var m MemoryLimit
		if got := m.Apply(slog.New(slog.DiscardHandler), root, self); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
