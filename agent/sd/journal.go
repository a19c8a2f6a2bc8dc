package sd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/coreos/go-systemd/v22/journal"
)

// NewLogHandler logs natively to journald when stderr is connected to the
// journal (systemd sets JOURNAL_STREAM to stderr's device:inode), so every
// attribute becomes a field journalctl can filter on. Anywhere else it is a
// slog.TextHandler on stderr.
func NewLogHandler(stderr io.Writer, level slog.Leveler) slog.Handler {
	text := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	isJournal, err := isJournalStream(stderr, os.Getenv("JOURNAL_STREAM"))
	if err != nil || !isJournal || !journal.Enabled() {
		return text
	}
	return newJournalHandler(journal.Send, level, filepath.Base(os.Args[0]), text)
}

// isJournalStream reports whether w is a file whose device and inode match
// JOURNAL_STREAM, as sd_journal_stream_fd(3) describes. Comparing the inode,
// rather than trusting the variable alone, matters because JOURNAL_STREAM is
// inherited by children whose stderr may have been redirected elsewhere.
func isJournalStream(w io.Writer, journalStream string) (bool, error) {
	if journalStream == "" {
		return false, nil
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(journalStream, "%d:%d", &dev, &ino); err != nil {
		return false, fmt.Errorf("parse JOURNAL_STREAM %q: %w", journalStream, err)
	}
	sc, ok := w.(syscall.Conn)
	if !ok {
		return false, nil
	}
	st, err := fstat(sc)
	if err != nil {
		return false, err
	}
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino, nil
}

// fstat goes through RawConn so that it does not switch the descriptor to
// blocking mode as File.Fd would.
func fstat(sc syscall.Conn) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	raw, err := sc.SyscallConn()
	if err != nil {
		return st, fmt.Errorf("stderr descriptor: %w", err)
	}
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = syscall.Fstat(int(fd), &st) }); err != nil {
		return st, fmt.Errorf("stderr descriptor: %w", err)
	}
	if statErr != nil {
		return st, fmt.Errorf("fstat stderr: %w", statErr)
	}
	return st, nil
}
