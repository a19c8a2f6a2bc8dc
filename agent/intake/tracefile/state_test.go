package tracefile

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestOffsetsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultStateFile)
	if _, found, err := loadOffsets(path); found || err != nil {
		t.Fatalf("missing file: found=%v err=%v", found, err)
	}
	want := offsets{Version: 1, Patterns: []string{"/var/log/tracee/*.json"},
		Files: map[string]fileOffset{"2049:77": {Path: "/var/log/tracee/a.json", Offset: 4096, Number: 12, Gen: 1,
			Fingerprint: 1<<63 + 5, FingerprintLen: 4096}}}
	for range 2 { // the second save replaces the first
		if err := saveOffsets(path, want); err != nil {
			t.Fatal(err)
		}
	}
	got, found, err := loadOffsets(path)
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v found=%v err=%v, want %+v", got, found, err, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only the offsets file", len(entries))
	}
}

func TestOffsetsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultStateFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOffsets(path); err == nil {
		t.Fatal("corrupt offsets file accepted")
	}
}
