package natsd

import (
	"syscall"
	"testing"
)

// TestLimitsSizedForTheStateDisk: unset byte limits fit the disk (an
// eighth of a 512 MiB one each); set ones stay; a large disk gets the
// defaults. Needs root for the small tmpfs; skipped otherwise.
func TestLimitsSizedForTheStateDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512m"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	l := Limits{UpMaxBytes: 5 << 20}.SizedFor(dir + "/jetstream") // not made yet: its parent's disk
	if l.WorkMaxBytes != 64<<20 || l.EventsMaxBytes != 64<<20 {
		t.Fatalf("on 512 MiB: work %d, events %d; want 64 MiB each", l.WorkMaxBytes, l.EventsMaxBytes)
	}
	if l.UpMaxBytes != 5<<20 {
		t.Fatalf("a set limit changed: %d", l.UpMaxBytes)
	}
	big := t.TempDir()
	if err := syscall.Mount("tmpfs", big, "tmpfs", 0, "size=64g"); err != nil {
		t.Skipf("cannot mount a large tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(big, syscall.MNT_DETACH) })
	if l := (Limits{}).SizedFor(big); l.WorkMaxBytes != DefaultWorkMaxBytes || l.UpMaxBytes != DefaultUpMaxBytes {
		t.Fatalf("on 64 GiB: %+v, want the defaults", l)
	}
}
