package tracefile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// DefaultStateFile is the offsets file name inside Options.StateDir.
const DefaultStateFile = "tracefile-offsets.json"

// Line is one complete line of a followed file.
type Line struct {
	// Path is where the file was found; for a rotated file being drained, the
	// path it had before the rotation.
	Path string
	// Pattern is the entry of Options.Paths (made absolute) that matched
	// Path: a bounded name for the file, for metrics.
	Pattern string
	// FileKey is "dev:inode", plus ":N" after the Nth in-place truncation.
	FileKey string
	// Offset is the byte offset of the line's first byte.
	Offset int64
	// Number is the 1-based line number within this FileKey, counted from
	// where reading started (a file first read from its end counts from there).
	Number int64
	// Data is the line without its newline. It is valid only during Handle.
	Data []byte
}

// Options configures a Follower. Zero durations and counts take defaults.
type Options struct {
	// Paths are file paths or globs (meta characters in the last element only).
	Paths []string
	// StateDir holds the offsets file. Required.
	StateDir string
	// StateFile names the offsets file in StateDir; DefaultStateFile if empty.
	StateFile string
	// StartAtBeginning reads files that exist before their path is first
	// watched from offset 0 instead of from their end.
	StartAtBeginning bool
	// MaxLine is the longest line accepted, in bytes (default 1 MiB).
	MaxLine int
	// Handle receives each valid line; an error makes the line be retried.
	Handle func(ctx context.Context, l Line) error
	// BadLine, if set, hears each line skipped as bad (not JSON, longer
	// than MaxLine), with the pattern that matched its file (see
	// Line.Pattern).
	BadLine func(pattern string)
	// BeforeCommit, if set, runs before offsets are saved; an error keeps
	// the old offsets (the lines are read again after a restart). The
	// runner makes the lines it took durable there.
	BeforeCommit func() error
	Logger       *slog.Logger

	// CommitEvery commits offsets after this many lines (default 10,000).
	CommitEvery int
	// CommitInterval commits pending offsets at least this often (default 1s).
	CommitInterval time.Duration
	// PollInterval re-checks paths and globs in case an event was missed or a
	// directory appeared (default 1s).
	PollInterval time.Duration
	// DrainGrace is how long a rotated file must stay idle at its end before
	// it is closed (default 5s).
	DrainGrace time.Duration
	// RetryMin and RetryMax bound the backoff between Handle retries
	// (defaults 100ms and 10s).
	RetryMin, RetryMax time.Duration
}

func (o *Options) setDefaults() {
	setDefault(&o.MaxLine, 1<<20)
	setDefault(&o.CommitEvery, 10000)
	setDefault(&o.CommitInterval, time.Second)
	setDefault(&o.PollInterval, time.Second)
	setDefault(&o.DrainGrace, 5*time.Second)
	setDefault(&o.RetryMin, 100*time.Millisecond)
	setDefault(&o.RetryMax, 10*time.Second)
	if o.StateFile == "" {
		o.StateFile = DefaultStateFile
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func (o *Options) validate() error {
	if o.Handle == nil {
		return errors.New("tracefile: Handle is required")
	}
	if o.StateDir == "" {
		return errors.New("tracefile: StateDir is required")
	}
	if o.RetryMax < o.RetryMin {
		return fmt.Errorf("tracefile: RetryMax %s is below RetryMin %s", o.RetryMax, o.RetryMin)
	}
	_, err := cleanPatterns(o.Paths)
	return err
}

// cleanPatterns makes paths absolute so they compare equal to the names
// fsnotify reports, and rejects globs fsnotify cannot follow.
func cleanPatterns(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("tracefile: path %q: %w", p, err)
		}
		if hasMeta(filepath.Dir(abs)) {
			return nil, fmt.Errorf("tracefile: path %q: glob characters are allowed in the file name only", p)
		}
		if _, err := filepath.Match(abs, ""); err != nil {
			return nil, fmt.Errorf("tracefile: path %q: %w", p, err)
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
	}
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }
