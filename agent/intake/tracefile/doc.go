// Package tracefile follows JSON-lines files, such as Tracee's output, and
// hands every complete line to a handler. It is the runner's intake for
// "Tracee discovery through watched local files".
//
// # Line identity and replay
//
// Every Line carries (FileKey, Offset): FileKey is the file's "dev:inode"
// (with ":N" appended once the file was truncated in place N times, because
// a copytruncate makes the same offsets hold new lines), and Offset is the
// byte offset where the line starts. That pair never changes for a given
// line, so the runner derives its event id from it. Offsets are committed to
// StateDir only for lines whose Handle returned nil, and only every
// CommitEvery lines or CommitInterval (an fsync per line would cap ingest far
// below Tracee's rate). After a crash, the lines since the last commit are
// handed over again with the same (FileKey, Offset); deduplicating on that
// pair downstream gives exactly-once. A clean stop (the context given to Run
// is cancelled) commits the final offsets, so a restart neither repeats nor
// loses a line.
//
// # Where reading starts
//
// A file that already exists when its path is first watched (the first run,
// or a path added to the configuration) is read from its end, after its last
// complete line: Tracee files can be huge and their past is not news. Set
// StartAtBeginning to read such files from the start instead. A file that
// appears while its path is watched (created, or rotated into place) is read
// from offset 0, and so is an unknown file found at startup under a path that
// was already watched before the restart, since it appeared while the runner
// was down. A file whose dev:inode is in the offsets file resumes where it
// stopped.
//
// # Rotation, truncation, bad lines
//
// When the file at a watched path is renamed or removed, the open file is
// drained: it is read to its end and kept open while it grows, until it has
// been idle for DrainGrace; the new file at the path is read from 0. A file
// whose size drops below what was read was truncated in place and is read
// again from 0 under a new FileKey. A line that is not valid JSON or longer
// than MaxLine is logged with its file and line number, counted as bad and
// skipped; an over-long line is discarded as it streams, never held whole.
// Blank lines are skipped silently. When Handle fails, the same line is
// retried with exponential backoff: its failures are taken to be transient
// (a full spool), and skipping would lose the event.
//
// Globs are allowed in the last path element only; they are re-matched on
// every change in their directory and on every PollInterval.
package tracefile
