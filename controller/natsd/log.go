package natsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/postee-fleet/posteed/agent/logx"
)

// levelTrace carries nats-server's protocol traces, below Debug.
const levelTrace = slog.LevelDebug - 4

// serverLogger routes nats-server's printf-style lines into slog, with the
// caller's attributes only (the controller tags them component=nats).
// Notices are the start-up banner (version, listeners, the JetStream
// logo and limits) until the server is ready: those go to Debug, later
// notices (shutdown, JetStream recovery) to Info.
type serverLogger struct {
	log   *slog.Logger
	ready *atomic.Bool
}

var _ server.Logger = serverLogger{}

func newLogger(log *slog.Logger) serverLogger {
	return serverLogger{log: log, ready: new(atomic.Bool)}
}

// started ends the banner: notices are Info from now on.
func (l serverLogger) started() { l.ready.Store(true) }

func (l serverLogger) Noticef(format string, v ...any) {
	level := slog.LevelDebug
	if l.ready.Load() {
		level = slog.LevelInfo
	}
	l.emit(level, format, v)
}

func (l serverLogger) Warnf(format string, v ...any)  { l.emit(slog.LevelWarn, format, v) }
func (l serverLogger) Errorf(format string, v ...any) { l.emit(slog.LevelError, format, v) }
func (l serverLogger) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l serverLogger) Tracef(format string, v ...any) { l.emit(levelTrace, format, v) }

// Fatalf is logged as an error: the embedded server must not exit the
// controller process; Start reports a server that does not come up.
func (l serverLogger) Fatalf(format string, v ...any) { l.emit(slog.LevelError, format, v) }

func (l serverLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	msg := fmt.Sprintf(format, v...)
	if level >= slog.LevelError { // errors under the one error key, like every other
		l.log.Log(ctx, level, "nats server error", logx.Err(errors.New(msg)))
		return
	}
	l.log.Log(ctx, level, msg)
}
