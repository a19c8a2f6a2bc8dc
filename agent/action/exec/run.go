package exec

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/postee-fleet/posteed/agent/procfs"
)

// runGroup starts cmd, which must have Setpgid set, and waits for it. When
// ctx ends first, the whole process group gets SIGTERM and, after grace,
// SIGKILL: killing only the script would leave its children running.
func runGroup(ctx context.Context, cmd *osexec.Cmd, grace time.Duration, started func(pid int)) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	started(cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-done:
		awaitGroupExit(pgid, timer.C)
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // children that ignored SIGTERM
		return err
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-done
	}
}

// awaitGroupExit gives the rest of the group the remaining grace to exit
// after the leader has.
func awaitGroupExit(pgid int, deadline <-chan time.Time) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for groupAlive(pgid) {
		select {
		case <-deadline:
			return
		case <-tick.C:
		}
	}
}

// groupAlive reports whether a live (non-zombie) process is in the group.
// Killed children are reparented to init and stay zombies until it reaps
// them, which kill(-pgid, 0) cannot tell from running; /proc can.
func groupAlive(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && liveMember(pid, pgid) {
			return true
		}
	}
	return false
}

// liveMember reads /proc/<pid>/stat: after the parenthesised command name
// come the state, the parent pid and the process group.
func liveMember(pid, pgid int) bool {
	s, err := procfs.ReadStat(pid)
	if err != nil {
		return false
	}
	if st := s.Field(3); st == "" || st == "Z" || st == "X" {
		return false
	}
	return s.Field(5) == strconv.Itoa(pgid)
}
