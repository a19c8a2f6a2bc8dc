package controller

import (
	"context"

	"github.com/postee-fleet/posteed/agent/action"
	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/engine"
)

// Check validates a Postee config (data, named file in messages and for
// relative paths) as the controller would load it, running nothing, and
// returns every problem in one pass sorted by file and line: YAML and
// structure problems do not hide the Rego, template and action problems of
// the parts that can still be compiled. nil means valid.
func Check(ctx context.Context, file string, data []byte) config.Errors {
	cfg, errs := config.ParsePartial(file, data)
	if cfg != nil {
		eng, err := engine.New(ctx, cfg, engine.Options{Registry: action.Default, OnFlush: func(context.Context, *engine.Engine, engine.Match) {}})
		if err != nil {
			errs = append(errs, asErrors(file, err)...)
		} else {
			eng.Close()
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs.Sort(file)
}

func asErrors(file string, err error) config.Errors {
	if es, ok := err.(config.Errors); ok {
		return es
	}
	return config.Errors{{File: file, Msg: err.Error()}}
}
