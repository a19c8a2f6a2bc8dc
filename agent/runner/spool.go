package runner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/postee-fleet/posteed/agent/logx"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// spool is the runner's upstream queue on disk: every event is appended to
// spool.log before it is acknowledged to its producer, and a sender publishes
// entries in order, advancing a cursor (spool.cursor) only after the
// controller's JetStream acknowledged each one. After a restart, whatever is
// past the cursor is sent again; JetStream drops a duplicate by its event id.
type spool struct {
	dir       string
	log       *slog.Logger
	wake      chan struct{} // an entry was appended
	kick      chan struct{} // the controller is reachable again: retry now
	compactAt int64         // the sent log is emptied once this large

	mu      sync.Mutex
	f       *os.File // guarded by mu; append handle
	size    int64    // guarded by mu
	dirty   bool     // guarded by mu: written since the last fsync
	pending atomic.Int64
	dropped atomic.Int64 // entries that could never be sent
}

// unsendableError marks an entry the controller can never take (larger than
// its largest message, or unreadable): the spool drops it rather than retry
// it forever with every later event held behind it.
type unsendableError struct {
	eventID string
	err     error
}

func (e *unsendableError) Error() string { return "entry can never be sent: " + e.err.Error() }
func (e *unsendableError) Unwrap() error { return e.err }

func openSpool(dir string, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "spool.log"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	size, err := dropPartialTail(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, log: log, wake: make(chan struct{}, 1), kick: make(chan struct{}, 1), compactAt: 8 << 20, f: f, size: size}
	cur := s.cursor()
	if cur > s.size { // the log was truncated under us; start over
		cur = 0
		_ = s.setCursor(0)
	}
	s.pending.Store(countLines(f, cur))
	return s, nil
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

// countLines counts the entries past off (at startup only).
func countLines(f *os.File, off int64) int64 {
	r := io.NewSectionReader(f, off, 1<<62)
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err != nil {
			return n
		}
	}
}

// Append adds one entry (a JSON line without newline).
func (s *spool) Append(entry []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := make([]byte, 0, len(entry)+1)
	buf = append(append(buf, entry...), '\n')
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.size += int64(len(buf))
	s.dirty = true
	s.pending.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Kick ends the pause after a failed send, so that a reconnected controller
// gets the backlog at once rather than after the backoff.
func (s *spool) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Pending is how many entries wait to be sent.
func (s *spool) Pending() int64 { return s.pending.Load() }

// Dropped is how many entries were given up as unsendable since the start.
func (s *spool) Dropped() int64 { return s.dropped.Load() }

func (s *spool) cursorPath() string { return filepath.Join(s.dir, "spool.cursor") }

func (s *spool) cursor() int64 {
	b, err := os.ReadFile(s.cursorPath())
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	return n
}

func (s *spool) setCursor(off int64) error {
	return writeFileAtomic(s.cursorPath(), []byte(strconv.FormatInt(off, 10)), 0o600)
}

// Run sends entries with send until ctx is done. send returns an error for
// an entry that was not acknowledged; it is tried again after a pause,
// unless the error is an *unsendableError: that entry is dropped.
func (s *spool) Run(ctx context.Context, send func(ctx context.Context, entry []byte) error) {
	off := s.cursor()
	sync := time.NewTicker(time.Second)
	defer sync.Stop()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		n, err := s.drain(ctx, off, send)
		if n > off {
			off = n
			_ = s.setCursor(off)
			backoff = 100 * time.Millisecond
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("upstream send failed; events stay spooled", "pending", s.Pending(), logx.Err(err))
			}
			select {
			case <-ctx.Done():
			case <-s.kick:
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		off = s.compact(off)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-sync.C:
			s.fsync()
		}
	}
	s.fsync()
}

// drain sends every complete entry from off; it returns the offset after the
// last acknowledged entry.
func (s *spool) drain(ctx context.Context, off int64, send func(context.Context, []byte) error) (int64, error) {
	s.mu.Lock()
	size := s.size
	s.mu.Unlock()
	if off >= size {
		return off, nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, off, size-off), 256<<10)
	acked := 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An entry longer than the buffer: read it whole. line points
			// into the reader's buffer, which the next read overwrites, so
			// it is copied first.
			head := append([]byte(nil), line...)
			rest, err2 := r.ReadBytes('\n')
			line, err = append(head, rest...), err2
		}
		if err != nil {
			return off, nil // partial tail: wait for more
		}
		if err := send(ctx, bytes.TrimSuffix(line, []byte{'\n'})); err != nil && !s.drop(err, len(line)-1) {
			return off, err
		}
		off += int64(len(line))
		s.pending.Add(-1)
		if acked++; acked%256 == 0 {
			_ = s.setCursor(off)
		}
	}
}

// drop reports whether err gives the entry up for good, and then logs and
// counts it: the events behind it go on.
func (s *spool) drop(err error, size int) bool {
	var ue *unsendableError
	if !errors.As(err, &ue) {
		return false
	}
	s.dropped.Add(1)
	s.log.Error("spooled event dropped: the controller can never take it", "event_id", ue.eventID, "size", size, logx.Err(ue.err))
	return true
}

// compact empties the log once everything in it was sent.
func (s *spool) compact(off int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off != s.size || s.size < s.compactAt {
		return off
	}
	if err := s.f.Truncate(0); err != nil {
		return off
	}
	s.size = 0
	_ = s.setCursor(0)
	return 0
}

func (s *spool) fsync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty {
		_ = s.f.Sync()
		s.dirty = false
	}
}

func (s *spool) Close() error {
	s.fsync()
	return s.f.Close()
}

// writeFileAtomic writes through a temporary file, fsyncs and renames.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
