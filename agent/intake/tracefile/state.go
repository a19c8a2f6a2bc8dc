package tracefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/fsutil"
	"io/fs"
	"os"
)

// offsets is what the offsets file holds.
type offsets struct {
	Version int `json:"version"`
	// Patterns were being watched when this was written: an unknown file
	// found under one of them at startup appeared while the runner was down.
	Patterns []string              `json:"patterns"`
	Files    map[string]fileOffset `json:"files"` // keyed by "dev:inode"
}

type fileOffset struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"` // start of the next line to read
	Number int64  `json:"line"`   // number of the last line done
	Gen    int    `json:"gen,omitempty"`
	// Fingerprint hashes the file's first FingerprintLen bytes.
	Fingerprint    uint64 `json:"fp,omitempty"`
	FingerprintLen int    `json:"fp_len,omitempty"`
}

// loadOffsets returns found=false when no offsets were ever written.
func loadOffsets(path string) (o offsets, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return offsets{}, false, nil
	}
	if err != nil {
		return offsets{}, false, fmt.Errorf("tracefile: read offsets: %w", err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return offsets{}, false, fmt.Errorf("tracefile: parse offsets %s: %w", path, err)
	}
	return o, true, nil
}

// saveOffsets replaces the file so that a crash leaves the old or the new
// version, never a mix.
func saveOffsets(path string, o offsets) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("tracefile: encode offsets: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("tracefile: write offsets: %w", err)
	}
	return nil
}
