// Package logx holds the log vocabulary both daemons share, so journald
// fields stay filterable: every error is under one key (POSTEE_ERROR in the
// journal).
package logx

import "log/slog"

// ErrorKey is the one attribute key errors are logged under.
const ErrorKey = "error"

// Err is the attribute for err under ErrorKey.
func Err(err error) slog.Attr { return slog.Any(ErrorKey, err) }
