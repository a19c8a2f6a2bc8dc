package engine

import (
	"log/slog"

	"github.com/postee-fleet/posteed/agent/config"
)

// Warnings lists what the config asks for that will not act, sorted by
// file and line: Postee keys posteed does not use, and problems of
// templates and actions no route uses (config.Warnings has the first
// kind). A daemon logs them once per load; check prints them.
func (e *Engine) Warnings() config.Errors { return e.warnings }

func (e *Engine) sortWarnings() {
	all := append(config.Errors{}, e.cfg.Warnings...)
	all = append(all, e.warnings...)
	e.warnings = all.Sort(e.cfg.File)
}

// reporter returns where an action's problems go: errors when a route uses
// the action, warnings when none does (Postee loads those too).
func (e *Engine) reporter(a *config.Action, errs *config.Errors) func(config.Errors) {
	return func(problems config.Errors) {
		if a.Used {
			*errs = append(*errs, problems...)
			return
		}
		e.warnings = append(e.warnings, config.AsUnused(problems, "action")...)
	}
}

// LogWarnings logs each of eng's warnings, once per load: with file, line
// and key as attributes, so journalctl can select them.
func LogWarnings(log *slog.Logger, eng *Engine) {
	for _, w := range eng.Warnings() {
		log.Warn("config warning: "+w.Msg, "file", w.File, "line", w.Line, "key", w.Key)
	}
}
