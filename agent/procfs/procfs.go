// Package procfs reads the few /proc files the daemons and tools need: a
// process's stat fields (state, process group, CPU times, start time, memory)
// and its status lines.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// UserHZ is the unit of the /proc times (utime, stime, starttime): 100 on
// every Linux port Go supports.
const UserHZ = 100

// Stat is a process's /proc/PID/stat.
type Stat struct {
	f []string // the fields after the command name: f[0] is field 3
}

// ReadStat reads /proc/PID/stat; pid 0 is this process.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(path(pid, "stat"))
	if err != nil {
		return Stat{}, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (Stat, error) {
	// The command name may hold spaces and parentheses: the fields follow
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("unreadable /proc stat")
	}
	return Stat{f: strings.Fields(string(b[i+1:]))}, nil
}

// Field is field n as proc(5) numbers them (3 the state, 5 the process
// group, 14 utime, 22 starttime, 24 rss); "" when the line is shorter.
func (s Stat) Field(n int) string {
	if n < 3 || n-3 >= len(s.f) {
		return ""
	}
	return s.f[n-3]
}

// Uint is field n as a number (0 when missing or unreadable).
func (s Stat) Uint(n int) uint64 {
	v, _ := strconv.ParseUint(s.Field(n), 10, 64)
	return v
}

// CPU is the user and system time of the process so far (its threads
// included, its children not).
func (s Stat) CPU() time.Duration {
	return time.Duration(s.Uint(14)+s.Uint(15)) * time.Second / UserHZ
}

// Status reads the "Key: value" lines of /proc/PID/status (pid 0: this
// process), values trimmed ("123 kB" stays so: see KiB).
func Status(pid int) (map[string]string, error) {
	b, err := os.ReadFile(path(pid, "status"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// KiB reads a status value given in kB (VmRSS, VmHWM).
func KiB(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a kB value: %q", v)
	}
	return n, nil
}

func path(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}
