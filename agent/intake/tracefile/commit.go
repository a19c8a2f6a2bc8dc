package tracefile

import (
	"time"

	"github.com/postee-fleet/posteed/agent/logx"
)

// commitIfDue commits after CommitEvery lines or CommitInterval, whichever
// comes first. After a failed write only the interval retries, so a full
// disk is not hit once per line.
func (f *Follower) commitIfDue() {
	if f.dirty == 0 {
		return
	}
	byCount := f.dirty >= f.opts.CommitEvery && !f.commitFailing
	if byCount || time.Since(f.lastCommit) >= f.opts.CommitInterval {
		f.commit()
	}
}

// commit saves the offset of every open file. Files that are no longer
// followed drop out, so the offsets file does not grow with rotations.
func (f *Follower) commit() error {
	o := offsets{Version: 1, Patterns: f.patterns, Files: make(map[string]fileOffset, len(f.byID))}
	for id, t := range f.byID {
		t.updateFingerprint()
		o.Files[id.String()] = fileOffset{Path: t.path, Offset: t.done.Load(), Number: t.doneNum, Gen: t.gen,
			Fingerprint: t.fp, FingerprintLen: t.fpLen}
	}
	var err error
	if f.opts.BeforeCommit != nil {
		err = f.opts.BeforeCommit()
	}
	if err == nil {
		err = saveOffsets(f.statePath, o)
	}
	f.lastCommit = time.Now()
	if err != nil {
		if !f.commitFailing {
			f.log.Error("tracefile: cannot save offsets", "path", f.statePath, logx.Err(err))
		}
		f.commitFailing = true
		return err
	}
	f.commitFailing = false
	f.dirty = 0
	return nil
}
