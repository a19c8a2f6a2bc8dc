package runner

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
)

// TestSpoolOnFullDisk fills a small tmpfs with the spool: the append that
// does not fit fails and leaves nothing behind (the entries before it read
// back whole, none glued to a partial one), Failed says why, and once every
// entry was read the spool frees the disk by itself, in place, so appends
// work again, also after a restart. Needs root (mount); skipped otherwise.
func TestSpoolOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	entry := func(i int) []byte {
		return fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, bytes.Repeat([]byte("x"), 3000))
	}
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if n > 100 {
			t.Fatal("64 KiB never filled")
		}
		if _, err := j.Append(entry(n)); err != nil {
			t.Logf("append %d: %v", n, err)
			break
		}
	}
	if j.Failed() == nil {
		t.Fatal("Failed() is nil after a failed append")
	}
	readAll := func(j *journal, from int64) [][]byte {
		var out [][]byte
		if _, err := j.Read(from, 0, func(_ int64, e []byte) error {
			out = append(out, bytes.Clone(e))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := readAll(j, 0)
	for i := range n {
		if !bytes.Equal(got[i], entry(i)) {
			t.Fatalf("entry %d read back as %.60q…", i, got[i])
		}
	}
	if len(got) != n {
		t.Fatalf("%d entries read back, %d were appended", len(got), n)
	}

	// Everything read (sent upstream, local actions done) while the disk
	// is full: there is no room for a new cursor file, yet the next append
	// finds the disk freed.
	end, _ := j.End()
	_ = j.SetCursor(cursorUp, end)
	_ = j.SetCursor(cursorLocal, end)
	if _, err := j.Append(entry(1000)); err != nil {
		t.Fatalf("append after every entry was read: %v", err)
	}
	if err := j.Failed(); err != nil {
		t.Fatalf("Failed() after a good append: %v", err)
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j, err = openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got = readAll(j, j.Cursor(cursorUp))
	if len(got) != 1 || !bytes.Equal(got[0], entry(1000)) {
		t.Fatalf("after a restart the upstream reader gets %d entries, want only the one appended after the disk was freed", len(got))
	}
}
