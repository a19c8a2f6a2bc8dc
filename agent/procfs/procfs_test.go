package procfs

import (
	"os"
	"strconv"
	"testing"
)

func TestSelf(t *testing.T) {
	s, err := ReadStat(0)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Field(3); st != "R" && st != "S" {
		t.Errorf("state %q", st)
	}
	if pgid, _ := strconv.Atoi(s.Field(5)); pgid != os.Getpid() && pgid <= 0 {
		t.Errorf("process group %q", s.Field(5))
	}
	if s.Uint(22) == 0 || s.Field(60) != "" || s.Uint(2) != 0 {
		t.Errorf("start time %d, field 60 %q, field 2 %d", s.Uint(22), s.Field(60), s.Uint(2))
	}
	st, err := Status(0)
	if err != nil {
		t.Fatal(err)
	}
	if rss, err := KiB(st["VmRSS"]); err != nil || rss <= 0 {
		t.Errorf("VmRSS %q: %d, %v", st["VmRSS"], rss, err)
	}
	if _, err := KiB("12 MB"); err == nil {
		t.Error("12 MB read as kB")
	}
}

// A command name with spaces and parentheses does not shift the fields.
func TestCommandWithParentheses(t *testing.T) {
	s, err := parseStat([]byte("42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 777 1000 200"))
	if err != nil || s.Field(3) != "S" || s.Field(5) != "42" || s.CPU().Milliseconds() != 4000 || s.Uint(22) != 777 {
		t.Fatalf("fields %v", s.f)
	}
}
