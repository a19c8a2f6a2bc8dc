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
		return c / 100 * AutoPercent, "cgroup"
	}
	return math.MaxInt64, "auto (no cgroup memory bound)"
}

// cgroupMemory is the lowest memory.high or memory.max on the way from this
// process's cgroup (v2) to the root: what systemd's MemoryHigh= and
// MemoryMax= of the unit and its slices set.
func cgroupMemory(root, selfCgroup string) (int64, bool) {
	path, err := unifiedPath(selfCgroup)
	if err != nil {
		return 0, false
	}
	lowest, found := int64(math.MaxInt64), false
	for dir := filepath.Join(root, path); ; dir = filepath.Dir(dir) {
		for _, f := range []string{"memory.high", "memory.max"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				continue
			}
			v := strings.TrimSpace(string(b))
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < lowest {
				lowest, found = n, true
			}
		}
		if dir == root || len(dir) <= len(root) {
			return lowest, found
		}
	}
}

// unifiedPath is the cgroup v2 path in /proc/self/cgroup ("0::/path").
func unifiedPath(selfCgroup string) (string, error) {
	f, err := os.Open(selfCgroup)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return filepath.Clean("/" + p), nil
		}
	}
	return "", errors.New("no cgroup v2 entry")
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
