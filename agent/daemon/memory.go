package daemon

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// MemoryLimit is the memory-limit setting: the Go runtime's soft memory
// limit (debug.SetMemoryLimit). Past it the collector runs as often as it
// must, whatever GOGC says, so a burst of large events costs CPU instead of
// growing the heap to GOGC's multiple of the live data (the controller runs
// GOGC=400). It is soft: live data beyond it is not an error.
type MemoryLimit struct {
	Bytes int64 // when set explicitly
	Off   bool  // "off": no limit
}

// AutoPercent is the share of the unit's MemoryHigh=/MemoryMax= that
// "auto" takes: the rest is headroom for what the runtime does not count
// (the runner's exec scripts share its cgroup).
const AutoPercent = 80

// MemoryFlag registers memory-limit ("auto" by default) on fs.
func MemoryFlag(fs *flag.FlagSet) *MemoryLimit {
	m := &MemoryLimit{}
	fs.Var(m, "memory-limit", `soft memory limit of the Go runtime: a size (768MiB, 2GiB), "auto" (80% of the unit's MemoryHigh=/MemoryMax=, none outside one) or "off"; GOMEMLIMIT in the environment wins`)
	return m
}

func (m *MemoryLimit) String() string {
	switch {
	case m == nil || (!m.Off && m.Bytes == 0):
		return "auto"
	case m.Off:
		return "off"
	}
	return FormatSize(m.Bytes)
}

// Set parses "auto", "off" or a size.
func (m *MemoryLimit) Set(s string) error {
	switch s = strings.TrimSpace(s); strings.ToLower(s) {
	case "auto", "":
		*m = MemoryLimit{}
		return nil
	case "off":
		*m = MemoryLimit{Off: true}
		return nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	if n < 16<<20 {
		return fmt.Errorf("%s is too small for a daemon (at least 16MiB)", s)
	}
	*m = MemoryLimit{Bytes: n}
	return nil
}

// Apply sets the runtime's limit and logs the one in force and where it
// came from. cgroupRoot is where the cgroup v2 tree is mounted
// (/sys/fs/cgroup); selfCgroup is /proc/self/cgroup.
func (m *MemoryLimit) Apply(log *slog.Logger, cgroupRoot, selfCgroup string) int64 {
	limit, source := m.choose(cgroupRoot, selfCgroup)
	if source != "GOMEMLIMIT" {
		debug.SetMemoryLimit(limit)
	}
	if limit == math.MaxInt64 {
		log.Info("no memory limit", "source", source)
	} else {
		log.Info("memory limit", "limit", FormatSize(limit), "source", source)
	}
	return limit
}

// ApplyMemoryLimit is Apply on this host's cgroup.
func ApplyMemoryLimit(m *MemoryLimit, log *slog.Logger) int64 {
	return m.Apply(log, "/sys/fs/cgroup", "/proc/self/cgroup")
}

func (m *MemoryLimit) choose(cgroupRoot, selfCgroup string) (int64, string) {
	switch {
	case os.Getenv("GOMEMLIMIT") != "":
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	case m.Off:
		return math.MaxInt64, "memory-limit"
	case m.Bytes > 0:
		return m.Bytes, "memory-limit"
	}
	if c, ok := cgroupMemory(cgroupRoot, selfCgroup); ok {
		return autoLimit(c), "cgroup"
	}
	return math.MaxInt64, "auto (no cgroup memory bound)"
}

// autoLimit is AutoPercent of a cgroup bound, in whole MiB.
func autoLimit(bound int64) int64 { return bound / 100 * AutoPercent &^ (1<<20 - 1) }

// cgroupMemory is the lowest memory bound on the way from this process's
// cgroup to the root: with cgroup v2, memory.high and memory.max (what
// systemd's MemoryHigh= and MemoryMax= of the unit and its slices set);
// with v1, memory.limit_in_bytes of the memory controller (MemoryMax=;
// v1 has no MemoryHigh=).
func cgroupMemory(root, selfCgroup string) (int64, bool) {
	v2, v1, err := cgroupPaths(selfCgroup)
	if err != nil {
		return 0, false
	}
	if v2 != "" {
		if n, ok := lowestUp(root, v2, "memory.high", "memory.max"); ok {
			return n, true
		}
	}
	if v1 != "" {
		return lowestUp(filepath.Join(root, "memory"), v1, "memory.limit_in_bytes")
	}
	return 0, false
}

// lowestUp is the lowest of files in dir/path and each parent up to dir.
// "max" and v1's near-2^63 "unlimited" are no bound.
func lowestUp(dir, path string, files ...string) (int64, bool) {
	lowest, found := int64(math.MaxInt64), false
	for d := filepath.Join(dir, path); ; d = filepath.Dir(d) {
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err == nil && n > 0 && n < 1<<62 && n < lowest {
				lowest, found = n, true
			}
		}
		if d == dir || len(d) <= len(dir) {
			return lowest, found
		}
	}
}

// cgroupPaths reads /proc/self/cgroup: the v2 path ("0::/path") and the v1
// memory controller's ("N:memory:/path"), either "" when absent.
func cgroupPaths(selfCgroup string) (v2, v1 string, err error) {
	f, err := os.Open(selfCgroup)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, rest, _ := strings.Cut(sc.Text(), ":")
		ctrls, path, ok := strings.Cut(rest, ":")
		switch {
		case !ok:
		case ctrls == "":
			v2 = filepath.Clean("/" + path)
		case slices.Contains(strings.Split(ctrls, ","), "memory"):
			v1 = filepath.Clean("/" + path)
		}
	}
	if v2 == "" && v1 == "" {
		return "", "", errors.New("no cgroup memory controller")
	}
	return v2, v1, sc.Err()
}

var units = []struct {
	suffix string
	mult   int64
}{{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}}

// ParseSize reads a byte count with an optional unit: B, K/KiB, M/MiB,
// G/GiB, all powers of 1024 as in systemd's MemoryMax=.
func ParseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(strings.ToLower(num), u.suffix); ok {
			num, mult = strings.TrimSpace(num[:len(rest)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 768MiB, 2GiB)", s)
	}
	return n * mult, nil
}

// FormatSize writes n in the largest unit that divides it.
func FormatSize(n int64) string {
	for _, u := range units[:3] {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + strings.Replace(strings.ToUpper(u.suffix), "I", "i", 1)
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
