package tracefile

import (
	"hash/fnv"
	"os"
)

// fingerprintMax bounds the bytes hashed: enough to cover a first Tracee
// finding, whose timestamp tells two files apart.
const fingerprintMax = 4096

// fingerprint hashes the first n bytes of file; a file shorter than n
// fails, which callers take as "not the same file".
func fingerprint(file *os.File, n int) (uint64, error) {
	buf := make([]byte, n)
	if _, err := file.ReadAt(buf, 0); err != nil {
		return 0, err
	}
	h := fnv.New64a()
	h.Write(buf)
	return h.Sum64(), nil
}

// updateFingerprint extends t's fingerprint over the bytes already done, so
// a restart can tell the file from another that took its inode, or from
// itself truncated and rewritten past the saved offset.
func (t *tracker) updateFingerprint() {
	n := int(min(t.done.Load(), fingerprintMax))
	if n <= t.fpLen {
		return
	}
	if sum, err := fingerprint(t.f, n); err == nil {
		t.fp, t.fpLen = sum, n
	}
}

// sameStart reports whether file begins as the saved one did.
func sameStart(file *os.File, e fileOffset) bool {
	if e.FingerprintLen == 0 {
		return true
	}
	sum, err := fingerprint(file, e.FingerprintLen)
	return err == nil && sum == e.Fingerprint
}
