package tracefile

import "sort"

// Stats is a snapshot of what a Follower has read.
type Stats struct {
	// Lines (handled), BadLines (skipped) and Bytes (consumed) count every
	// file since New.
	Lines, BadLines, Bytes int64
	// Files are the open files, sorted by path.
	Files []FileStats
}

// FileStats describes one open file.
type FileStats struct {
	Path    string
	FileKey string
	// Lines, BadLines and Bytes count since the file was opened.
	Lines, BadLines, Bytes int64
	// Offset follows the last line done: what the next commit saves.
	Offset int64
	// Draining is set for a rotated file read to its end before closing.
	Draining bool
}

// Stats is safe to call from any goroutine.
func (f *Follower) Stats() Stats {
	s := Stats{Lines: f.totals.lines.Load(), BadLines: f.totals.bad.Load(), Bytes: f.totals.bytes.Load()}
	f.mu.Lock()
	for _, t := range f.byID {
		s.Files = append(s.Files, FileStats{
			Path: t.path, FileKey: t.key, Draining: t.draining,
			Lines: t.lines.Load(), BadLines: t.bad.Load(), Bytes: t.bytes.Load(), Offset: t.done.Load(),
		})
	}
	f.mu.Unlock()
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Path < s.Files[j].Path })
	return s
}
