package tracefile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// startMode says where to read a file with no saved offset.
type startMode int

const (
	fromStart startMode = iota
	fromEnd
)

// notRegular is why a file that is not a regular one is not followed.
func notRegular(path string, fi os.FileInfo) error {
	return fmt.Errorf("tracefile: %s is not a regular file (%s): only regular files are followed", path, kind(fi.Mode()))
}

func kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.Type().String()
}

// tracker is one open file being followed. Run's goroutine owns it; the
// fields Stats reads are atomics or written under Follower.mu.
type tracker struct {
	id        fileID
	f         *os.File
	lr        *lineReader
	gen       int       // in-place truncations seen
	number    int64     // number of the last line read
	doneNum   int64     // number of the last line done (handled or skipped)
	idleSince time.Time // while draining: when it last grew
	fp        uint64    // hash of the first fpLen bytes
	fpLen     int

	path     string // written under Follower.mu
	pattern  string // the pattern matching path (Line.Pattern); Run's goroutine only
	key      string // written under Follower.mu
	draining bool   // written under Follower.mu

	done              atomic.Int64 // offset after the last line done: what a commit saves
	lines, bad, bytes atomic.Int64

	badUnlogged int64     // bad lines past maxBadLineWarnings not yet in a summary
	badSummary  time.Time // when the last summary was logged
}

// open opens path, or returns the tracker already following that file (a
// rotated file renamed into a watched name). New trackers start at the saved
// offset for their dev:inode, else where mode says.
//
// The open does not block: a FIFO matching a glob would otherwise hold the
// follower, and every file behind it, until something wrote to it. The type
// is checked on the open descriptor (newTracker), so nothing can swap the
// file between a check and the open. O_NONBLOCK changes nothing for the
// regular files that pass.
func (f *Follower) open(path string, mode startMode) (*tracker, error) {
	file, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tracefile: open: %w", err)
	}
	t, err := f.newTracker(path, file, mode)
	if t == nil || err != nil || t.f != file {
		file.Close()
	}
	return t, err
}

func (f *Follower) newTracker(path string, file *os.File, mode startMode) (*tracker, error) {
	fi, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("tracefile: stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi)
	}
	id, err := idOf(fi)
	if err != nil {
		return nil, err
	}
	if t := f.byID[id]; t != nil {
		return t, nil
	}
	t := &tracker{id: id, f: file, path: path}
	start, err := f.startOffset(t, fi.Size(), mode)
	if err != nil {
		return nil, err
	}
	if _, err := file.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("tracefile: seek %s: %w", path, err)
	}
	t.key = fileKey(id, t.gen)
	t.lr = newLineReader(file, start, f.opts.MaxLine)
	t.done.Store(start)
	return t, nil
}

func (f *Follower) startOffset(t *tracker, size int64, mode startMode) (int64, error) {
	e, ok := f.saved[t.id]
	if !ok {
		if mode == fromEnd {
			return lastLineEnd(t.f, size)
		}
		return 0, nil
	}
	delete(f.saved, t.id)
	t.gen, t.number, t.doneNum = e.Gen, e.Number, e.Number
	if size >= e.Offset && sameStart(t.f, e) {
		t.fp, t.fpLen = e.Fingerprint, e.FingerprintLen
		return e.Offset, nil
	}
	// Truncated, rewritten, or another file that took the inode: its lines
	// need a FileKey of their own, or dedupe would drop them as replays.
	f.log.Info("tracefile: file changed while stopped, reading it again from the start",
		"path", t.path, "file_key", fileKey(t.id, t.gen), "offset", e.Offset, "size", size)
	t.gen++
	t.number, t.doneNum = 0, 0
	return 0, nil
}

// lastLineEnd finds where the line being written at the end of a file
// starts, so that reading from the end never begins mid-line. Beyond one
// window back it gives up and starts at the end.
func lastLineEnd(file *os.File, size int64) (int64, error) {
	lo := max(0, size-64<<10)
	buf := make([]byte, size-lo)
	if _, err := file.ReadAt(buf, lo); err != nil && err != io.EOF {
		return 0, fmt.Errorf("tracefile: read %s: %w", file.Name(), err)
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return lo + int64(i) + 1, nil
	}
	if lo == 0 {
		return 0, nil
	}
	return size, nil
}

// truncated reports whether the file shrank below what was read: a
// copytruncate, which is read again from 0 under a new FileKey.
func (f *Follower) truncated(t *tracker) (bool, error) {
	fi, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("tracefile: stat %s: %w", t.path, err)
	}
	if fi.Size() >= t.lr.readPos() {
		return false, nil
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("tracefile: seek %s: %w", t.path, err)
	}
	f.log.Info("tracefile: file truncated, reading it again from the start",
		"path", t.path, "file_key", t.key, "read", t.lr.readPos(), "size", fi.Size())
	f.mu.Lock()
	t.gen++
	t.key = fileKey(t.id, t.gen)
	f.mu.Unlock()
	t.lr.reset(0)
	t.number, t.doneNum = 0, 0
	t.fp, t.fpLen = 0, 0
	t.done.Store(0)
	f.dirty++
	return true, nil
}
