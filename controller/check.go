package controller

import (
	"context"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
)

// Check validates a Postee config (data, named file in messages and for
// relative paths; relative input-files not beside it are looked for in
// filtersDir, "" for rego-filters beside it) as the controller would load
// it, running nothing. It returns every problem in one pass sorted by file
// and line: YAML and structure problems do not hide the Rego, template and
// action problems of the parts that can still be compiled. No errors means
// valid; warnings name what loads but will not act.
func Check(ctx context.Context, file, filtersDir string, data []byte) (errs, warns config.Errors) {
	cfg, errs := config.ParsePartial(file, data)
	if cfg != nil {
		if filtersDir != "" {
			cfg.FiltersDir = filtersDir
		}
		warns = cfg.Warnings
		eng, err := engine.New(ctx, cfg, engine.Options{Registry: action.Default})
		if err != nil {
			errs = append(errs, asErrors(file, err)...)
		} else {
			warns = eng.Warnings()
			eng.Close()
		}
	}
	if len(errs) == 0 {
		return nil, warns
	}
	return errs.Sort(file), warns
}

func asErrors(file string, err error) config.Errors {
	if es, ok := err.(config.Errors); ok {
		return es
	}
	return config.Errors{{File: file, Msg: err.Error()}}
}
