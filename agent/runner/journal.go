package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/postee-fleet/posteed/agent/fsutil"
)

// journal is the runner's log of the events it took in, on disk
// (spool/spool.log, one JSON envelope a line): an event is appended before
// its producer is answered (webhook) or its place is committed (Tracee
// file). Two readers follow it, each with a durable cursor: upstream sends
// the entries to the controller, local runs the runner's own actions. An
// entry stays until both are past it; then compaction drops it.
//
// Offsets are logical: they keep growing across compactions. A compacted
// file starts with a header line "#base N": the logical offset of its first
// entry (no header: 0, the layout of earlier releases).
type journal struct {
	dir string

	mu      sync.Mutex
	f       *os.File // guarded by mu (and swap for readers); append handle
	hdr     int64    // guarded by mu: bytes of the header line
	base    int64    // guarded by mu: logical offset of the first entry
	end     int64    // guarded by mu: logical end
	dirty   bool     // guarded by mu: written since the last fsync
	failed  error    // guarded by mu: why the last append failed; nil after a success
	changed chan struct{}
	cursors map[string]int64 // guarded by mu: durable reader positions

	swap   sync.RWMutex // readers hold it shared while they read f; compaction exclusively
	syncMu sync.Mutex   // one fsync at a time (group commit)
	synced int64        // guarded by syncMu: logical end at the last fsync

	compactAt int64 // compact a file still in use once this much at its head was read by every reader
}

// Journal readers.
const (
	cursorUp    = "up"    // spool.cursor: sent to the controller
	cursorLocal = "local" // spool.local: the runner's own actions done
)

func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "spool.log"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	j := &journal{dir: dir, f: f, changed: make(chan struct{}), cursors: map[string]int64{}, compactAt: 4 << 20}
	if err := j.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	j.synced = j.end
	return j, nil
}

func (j *journal) load() error {
	size, err := dropPartialTail(j.f)
	if err != nil {
		return err
	}
	head := make([]byte, 64)
	n, _ := j.f.ReadAt(head, 0)
	if bytes.HasPrefix(head[:n], []byte("#base ")) {
		i := bytes.IndexByte(head[:n], '\n')
		if i < 0 {
			return errors.New("spool.log: bad header line")
		}
		if j.base, err = strconv.ParseInt(string(head[6:i]), 10, 64); err != nil {
			return fmt.Errorf("spool.log: bad header line: %w", err)
		}
		j.hdr = int64(i + 1)
	}
	j.end = j.base + size - j.hdr
	for _, name := range []string{cursorUp, cursorLocal} {
		off, ok := j.readCursor(name)
		switch {
		case !ok && name == cursorLocal:
			// Earlier releases ran local actions from memory: their
			// entries are not replayed. Decided once, durably: a crash
			// before the first save must not skip what came since.
			off = j.end
			if err := fsutil.WriteFileAtomic(j.cursorFile(name), []byte(strconv.FormatInt(off, 10)), 0o600); err != nil {
				return fmt.Errorf("spool cursor: %w", err)
			}
		case !ok || off < j.base || off > j.end:
			off = j.base // unknown or from a spool that was cut: resend
		}
		j.cursors[name] = off
	}
	return nil
}

// dropPartialTail cuts an entry left half-written by a crash: nobody was
// told it was taken, and the next entry appended to it would make both
// unreadable. It returns the size kept.
func dropPartialTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, err
	}
	size := st.Size()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := start + int64(i) + 1
			if keep == size {
				return size, nil
			}
			return keep, f.Truncate(keep)
		}
		end = start
	}
	return 0, f.Truncate(0)
}

func (j *journal) cursorFile(name string) string {
	if name == cursorUp {
		return filepath.Join(j.dir, "spool.cursor")
	}
	return filepath.Join(j.dir, "spool."+name)
}

func (j *journal) readCursor(name string) (int64, bool) {
	b, err := os.ReadFile(j.cursorFile(name))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	return n, err == nil
}

// Append adds one entry (a JSON line without its newline, which may be
// written in entry's spare capacity) and returns its offset. A failed
// write is cut off again, so the next entry does not glue onto a partial
// one; until an append succeeds, Failed says why.
func (j *journal) Append(entry []byte) (int64, error) {
	off, err := j.append(entry)
	if err == nil {
		return off, nil
	}
	// A full disk: free what every reader is past, and try once more.
	j.mu.Lock()
	base := j.base
	j.mu.Unlock()
	if j.compact() != nil {
		return 0, err
	}
	j.mu.Lock()
	freed := j.base != base
	j.mu.Unlock()
	if !freed {
		return 0, err
	}
	return j.append(entry)
}

func (j *journal) append(entry []byte) (int64, error) {
	// One write per entry, its newline in entry's spare capacity if it
	// has some (appendEnvelope leaves room): no copy of the entry.
	buf := append(entry, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	off := j.end
	if _, err := j.f.Write(buf); err != nil {
		if terr := j.f.Truncate(j.hdr + off - j.base); terr != nil {
			err = errors.Join(err, terr)
		}
		j.failed = err
		return 0, fmt.Errorf("spool: %w", err)
	}
	j.failed = nil
	j.end += int64(len(buf))
	j.dirty = true
	close(j.changed)
	j.changed = make(chan struct{})
	return off, nil
}

// Failed is why the last append failed (a full disk), nil once one works.
func (j *journal) Failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failed
}

// End is the logical end offset; Changed is closed at the next append.
func (j *journal) End() (int64, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.end, j.changed
}

// Sync makes every entry appended so far durable. Concurrent callers share
// one fsync.
func (j *journal) Sync() error {
	want, _ := j.End()
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.synced >= want {
		return nil
	}
	// swap first: a compaction between reading j.f and its fsync would
	// close the file under it (and its replacement was fsynced whole).
	j.swap.RLock()
	j.mu.Lock()
	end, f := j.end, j.f
	j.dirty = false
	j.mu.Unlock()
	err := f.Sync()
	j.swap.RUnlock()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	j.synced = end
	return nil
}

// Read calls fn with each complete entry from offset from (at most max
// entries; max <= 0: all) and returns the offset after the last one fn
// accepted. entry is only valid during the call. An error from fn stops
// the read at that entry.
func (j *journal) Read(from int64, max int, fn func(off int64, entry []byte) error) (int64, error) {
	j.swap.RLock()
	defer j.swap.RUnlock()
	j.mu.Lock()
	f, hdr, base, end := j.f, j.hdr, j.base, j.end
	j.mu.Unlock()
	from = maxOff(from, base)
	if from >= end {
		return from, nil
	}
	r := journalReaders.Get().(*bufio.Reader)
	defer journalReaders.Put(r)
	r.Reset(io.NewSectionReader(f, hdr+from-base, end-from))
	defer r.Reset(nil) // not holding the file
	for n := 0; max <= 0 || n < max; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An entry longer than the buffer: read it whole. line points
			// into the reader's buffer, which the next read overwrites.
			head := append([]byte(nil), line...)
			rest, err2 := r.ReadBytes('\n')
			line, err = append(head, rest...), err2
		}
		if err != nil {
			break // the end (entries are whole: Append writes them at once)
		}
		if err := fn(from, line[:len(line)-1]); err != nil {
			return from, err
		}
		from += int64(len(line))
	}
	return from, nil
}

// journalReaders keep Read's 256 KiB buffers from one read to the next:
// local reads a few entries at a time as they come.
var journalReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

func maxOff(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Cursor is reader name's durable position.
func (j *journal) Cursor(name string) int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cursors[name]
}

// SetCursor moves reader name's position durably, then drops what every
// reader is past.
func (j *journal) SetCursor(name string, off int64) error {
	j.mu.Lock()
	same := j.cursors[name] == off
	j.cursors[name] = off
	j.mu.Unlock()
	if same {
		return nil
	}
	err := fsutil.WriteFileAtomic(j.cursorFile(name), []byte(strconv.FormatInt(off, 10)), 0o600)
	if err != nil {
		// A full disk has no room for the cursor file either: compact all
		// the same, it is what frees the disk. The entries dropped were
		// read; a cursor left behind by a crash is reset to the new base.
		err = fmt.Errorf("spool cursor: %w", err)
	}
	return errors.Join(err, j.compact())
}

// replaced says whether path is no longer the file j appends to.
func (j *journal) replaced(path string) bool {
	now, err := os.Stat(path)
	if err != nil {
		return false
	}
	cur, err := j.f.Stat()
	return err == nil && !os.SameFile(now, cur)
}

// compact drops the entries every reader is past: all of them when the
// readers are at the end (an empty file), else the head once it is large
// and at least half the file.
func (j *journal) compact() error {
	j.swap.Lock()
	defer j.swap.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	low := j.end
	for _, off := range j.cursors {
		low = min(low, off)
	}
	head := low - j.base
	switch {
	case head <= 0:
		return nil
	case j.failed != nil && low == j.end:
		// A full disk and every entry read: cut the file in place, since
		// a copy needs space there is not. Truncate, then the new header:
		// a crash between them leaves an empty file (base 0), and cursors
		// saved beyond its end are reset to it on load; nothing unread
		// was in it.
		hdr := fmt.Appendf(nil, "#base %d\n", low)
		err := j.f.Truncate(0)
		if err == nil {
			_, err = j.f.Write(hdr)
		}
		if err == nil {
			err = j.f.Sync()
		}
		if err != nil {
			return fmt.Errorf("spool compaction: %w", err)
		}
		j.hdr, j.base, j.dirty = int64(len(hdr)), low, false
		return nil
	case j.failed != nil: // the disk is full: free whatever can be freed
	case low == j.end && head >= 64<<10: // everything read: an empty file
	case head >= j.compactAt && head >= (j.end-j.base)/2:
	default:
		return nil
	}
	path := j.f.Name()
	hdr := fmt.Appendf(nil, "#base %d\n", low)
	err := fsutil.Replace(path, 0o600, func(w io.Writer) error {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		_, err := io.Copy(w, io.NewSectionReader(j.f, j.hdr+head, j.end-low))
		return err
	})
	if err != nil && !j.replaced(path) {
		return fmt.Errorf("spool compaction: %w", err)
	}
	// Replaced (an error after the rename is only the directory's fsync):
	// from here on, appends must go to the new file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool compaction: %w", err)
	}
	j.f.Close()
	j.f, j.hdr, j.base, j.dirty = f, int64(len(hdr)), low, false
	return nil
}

// CountFrom counts the entries from off (at start-up only).
func (j *journal) CountFrom(off int64) int64 {
	var n int64
	_, _ = j.Read(off, 0, func(int64, []byte) error { n++; return nil })
	return n
}

// wait blocks until the journal grows past off, ctx ends or kick fires.
func (j *journal) wait(ctx context.Context, off int64, kick <-chan struct{}) {
	end, changed := j.End()
	if end > off {
		return
	}
	select {
	case <-ctx.Done():
	case <-changed:
	case <-kick:
	}
}

func (j *journal) Close() error {
	err := j.Sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	return errors.Join(err, j.f.Close())
}
