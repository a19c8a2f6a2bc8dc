package sd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

func devIno(t *testing.T, f *os.File) string {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func TestIsJournalStream(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	stderr, other := open("stderr"), open("other")
	tests := []struct {
		name    string
		w       io.Writer
		env     string
		want    bool
		wantErr bool
	}{
		{name: "stderr is the journal stream", w: stderr, env: devIno(t, stderr), want: true},
		{name: "stream is another file", w: stderr, env: devIno(t, other)},
		{name: "no JOURNAL_STREAM", w: stderr, env: ""},
		{name: "not a file", w: &bytes.Buffer{}, env: devIno(t, stderr)},
		{name: "malformed JOURNAL_STREAM", w: stderr, env: "journal", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := isJournalStream(tt.w, tt.env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("isJournalStream = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewLogHandlerOutsideJournal(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	var buf bytes.Buffer
	slog.New(NewLogHandler(&buf, slog.LevelInfo)).Info("runner connected", "runner", "web-1")
	if got := buf.String(); !strings.Contains(got, `msg="runner connected" runner=web-1`) {
		t.Errorf("stderr got %q, want a text line", got)
	}
}

// entry is one recorded journal.Send call.
type entry struct {
	msg    string
	pri    journal.Priority
	fields map[string]string
}

func recorder(entries *[]entry, err error) sendFunc {
	return func(msg string, pri journal.Priority, fields map[string]string) error {
		*entries = append(*entries, entry{msg, pri, maps.Clone(fields)})
		return err
	}
}

type revision int

func (r revision) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("rev-%d", int(r))) }

func TestJournalHandlerFields(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want entry // CODE_* fields are checked in TestJournalHandlerSource
	}{
		{"well-known attributes", func(l *slog.Logger) {
			l.Info("matched", "route", "r1", "action", "slack", "runner", "web-1", "event_id", "e-9", "config_revision", 12)
		}, entry{"matched", journal.PriInfo, map[string]string{
			"POSTEE_ROUTE": "r1", "POSTEE_ACTION": "slack", "POSTEE_RUNNER": "web-1",
			"POSTEE_EVENT_ID": "e-9", "POSTEE_CONFIG_REVISION": "12"}}},
		{"other attributes", func(l *slog.Logger) {
			l.Warn("exec failed", "exit_code", 2, "Weird-key.ü", "v", "err", errors.New("boom"),
				slog.Time("at", at), "rev", revision(3), "dur", 1500*time.Millisecond)
		}, entry{"exec failed", journal.PriWarning, map[string]string{
			"POSTEE_EXIT_CODE": "2", "POSTEE_WEIRD_KEY__": "v", "POSTEE_ERR": "boom",
			"POSTEE_AT": "2025-03-04T05:06:07.000000008Z", "POSTEE_REV": "rev-3", "POSTEE_DUR": "1.5s"}}},
		{"groups", func(l *slog.Logger) {
			l.WithGroup("nats").With("url", "tls://c:4222").Error("down",
				slog.Group("conn", "retries", 3), "route", "r1", slog.Group("", "inlined", true), slog.Group("empty"))
		}, entry{"down", journal.PriErr, map[string]string{
			"POSTEE_NATS_URL": "tls://c:4222", "POSTEE_NATS_CONN_RETRIES": "3",
			"POSTEE_ROUTE": "r1", "POSTEE_NATS_INLINED": "true"}}},
		{"the error key is POSTEE_ERROR inside any group", func(l *slog.Logger) {
			l.WithGroup("spool").Error("append failed", "error", errors.New("disk full"))
		}, entry{"append failed", journal.PriErr, map[string]string{"POSTEE_ERROR": "disk full"}}},
		{"attrs before a group stay outside it", func(l *slog.Logger) {
			l.With("runner", "web-1", "host", "h1").WithGroup("spool").Debug("flushed", "n", 4)
		}, entry{"flushed", journal.PriDebug, map[string]string{
			"POSTEE_RUNNER": "web-1", "POSTEE_HOST": "h1", "POSTEE_SPOOL_N": "4"}}},
		{"siblings do not share attrs", func(l *slog.Logger) {
			parent := l.With("a", 1)
			_ = parent.With("b", 2)
			parent.With("c", 3).Info("x")
		}, entry{"x", journal.PriInfo, map[string]string{"POSTEE_A": "1", "POSTEE_C": "3"}}},
		{"long names are cut to journald's limit", func(l *slog.Logger) {
			l.Info("x", strings.Repeat("k", 80), "v")
		}, entry{"x", journal.PriInfo, map[string]string{"POSTEE_" + strings.Repeat("K", 57): "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []entry
			h := newJournalHandler(recorder(&got, nil), slog.LevelDebug, "posteed-test", slog.DiscardHandler)
			tt.log(slog.New(h))
			if len(got) != 1 {
				t.Fatalf("sent %d entries, want 1", len(got))
			}
			tt.want.fields["SYSLOG_IDENTIFIER"] = "posteed-test"
			maps.DeleteFunc(got[0].fields, func(k, _ string) bool { return strings.HasPrefix(k, "CODE_") })
			if got[0].msg != tt.want.msg || got[0].pri != tt.want.pri {
				t.Errorf("sent %q at priority %d, want %q at %d", got[0].msg, got[0].pri, tt.want.msg, tt.want.pri)
			}
			if !maps.Equal(got[0].fields, tt.want.fields) {
				t.Errorf("fields\n got %v\nwant %v", got[0].fields, tt.want.fields)
			}
		})
	}
}

func TestJournalHandlerLevel(t *testing.T) {
	var got []entry
	l := slog.New(newJournalHandler(recorder(&got, nil), slog.LevelWarn, "t", slog.DiscardHandler))
	l.Info("dropped")
	l.Warn("kept")
	if len(got) != 1 || got[0].msg != "kept" {
		t.Fatalf("sent %v, want only the warning", got)
	}
}

func TestJournalHandlerSource(t *testing.T) {
	var got []entry
	slog.New(newJournalHandler(recorder(&got, nil), nil, "t", slog.DiscardHandler)).Info("x")
	if len(got) != 1 {
		t.Fatalf("sent %d entries, want 1", len(got))
	}
	f := got[0].fields
	if !strings.HasSuffix(f["CODE_FUNC"], ".TestJournalHandlerSource") ||
		filepath.Base(f["CODE_FILE"]) != "journal_test.go" || f["CODE_LINE"] == "" {
		t.Errorf("source fields %q %q %q, want this test", f["CODE_FUNC"], f["CODE_FILE"], f["CODE_LINE"])
	}
}

func TestJournalHandlerFallback(t *testing.T) {
	var got []entry
	var stderr bytes.Buffer
	text := slog.NewTextHandler(&stderr, nil)
	h := newJournalHandler(recorder(&got, errors.New("journald gone")), nil, "t", text)
	err := h.WithAttrs([]slog.Attr{slog.String("runner", "web-1")}).WithGroup("g").
		Handle(t.Context(), slog.NewRecord(time.Now(), slog.LevelError, "lost?", 0))
	if err == nil || !strings.Contains(err.Error(), "journald gone") {
		t.Errorf("Handle error = %v, want the send error", err)
	}
	if !strings.Contains(stderr.String(), `msg=lost? runner=web-1`) {
		t.Errorf("fallback got %q, want the record with its attrs", stderr.String())
	}
}
