package runner

import (
	"testing"

	"github.com/postee-fleet/posteed/internal/fleettest"
)

// TestApplyIgnoresOlderSlice: within one epoch a slice of a lower revision
// (a fetch reply overtaken by a push) leaves the running one; a new epoch
// is followed whatever its revision.
func TestApplyIgnoresOlderSlice(t *testing.T) {
	r := unitRunner(t, fleettest.NewLogs(t))
	steps := []struct {
		name          string
		epoch         string
		rev           int64
		variant       string
		wantRev       int64
		wantVariantOf string // the slice whose digest should be running
	}{
		{"first", "e1", 5, "a", 5, "a"},
		{"older, other content", "e1", 3, "b", 5, "a"},
		{"older, same content", "e1", 4, "a", 5, "a"},
		{"same revision again", "e1", 5, "a", 5, "a"},
		{"newer", "e1", 6, "b", 6, "b"},
		{"new epoch, lower revision", "e2", 1, "c", 1, "c"},
		{"back to the old epoch", "e1", 9, "a", 9, "a"},
		{"no epoch is always followed", "", 2, "b", 2, "b"},
	}
	digests := map[string]string{}
	for _, v := range []string{"a", "b", "c"} {
		digests[v] = unitSlice(t, "", 0, v).Digest
	}
	for _, st := range steps {
		if err := r.cfg.apply(t.Context(), unitSlice(t, st.epoch, st.rev, st.variant)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		c := r.cfg.cur.Load()
		if c.slice.Revision != st.wantRev || c.slice.Digest != digests[st.wantVariantOf] {
			t.Fatalf("%s: running revision %d digest %.8s, want %d and %.8s", st.name, c.slice.Revision, c.slice.Digest, st.wantRev, digests[st.wantVariantOf])
		}
	}
}
