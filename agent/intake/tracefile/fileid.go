//go:build unix

package tracefile

import (
	"fmt"
	"os"
	"syscall"
)

// fileID is a file's identity across renames: what offsets are keyed by.
type fileID struct{ dev, ino uint64 }

func (id fileID) String() string { return fmt.Sprintf("%d:%d", id.dev, id.ino) }

func idOf(fi os.FileInfo) (fileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("tracefile: no device and inode for %s", fi.Name())
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil //nolint:unconvert // types differ per platform
}

// fileKey is the identity a line carries; gen counts in-place truncations,
// which make the same offsets hold different lines.
func fileKey(id fileID, gen int) string {
	if gen == 0 {
		return id.String()
	}
	return fmt.Sprintf("%s:%d", id, gen)
}
