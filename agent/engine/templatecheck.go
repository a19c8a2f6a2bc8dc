package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/postee-fleet/posteed/agent/config"
	"github.com/postee-fleet/posteed/agent/template/bundled"
)

// errNoResult is a template evaluating to nothing for an event.
var errNoResult = errors.New("defines no title and result for this event")

// location is where a template module's text is: an inline body sits at
// some line of cfg.yaml, a fetched one at its url.
type location struct {
	file  string
	key   string            // the template's key in cfg.yaml
	shift func(row int) int // Rego row → line of file; nil: the same
}

// locations maps the module names the Rego parser knows to where their
// text is; rego-templates files are not in it, their names are their paths.
type locations map[string]location

func (l locations) place(loc *ast.Location) (file string, line int, key string) {
	if loc == nil {
		return "", 0, ""
	}
	x, ok := l[loc.File]
	if !ok {
		return loc.File, loc.Row, ""
	}
	line = loc.Row
	if x.shift != nil {
		line = x.shift(loc.Row)
	}
	return x.file, line, x.key
}

// errors turns Rego parse and compile errors into config errors at the line
// of their text. cfg, when set, names the file of errors without location.
func (l locations) errors(cfg *config.Config, err error) config.Errors {
	var list ast.Errors
	if !errors.As(err, &list) {
		list = ast.Errors{&ast.Error{Message: err.Error()}}
	}
	out := make(config.Errors, 0, len(list))
	for i, e := range list {
		if i+1 < len(list) && sameRow(e, list[i+1]) && strings.HasPrefix(list[i+1].Message, e.Message) {
			continue // OPA says it twice, the second time with more detail
		}
		file, line, key := l.place(e.Location)
		if file == "" && cfg != nil {
			file = cfg.File
		}
		out = append(out, &config.Error{File: file, Line: line, Key: key, Msg: "rego: " + strings.TrimSpace(e.Message)})
	}
	return out
}

func sameRow(a, b *ast.Error) bool {
	return a.Location != nil && b.Location != nil && a.Location.File == b.Location.File && a.Location.Row == b.Location.Row
}

// missingRules names the rule a template package lacks ("title",
// "result", or both), or "" when it has both: without them every event
// would fail to render.
func missingRules(c *ast.Compiler, pkg ast.Ref) string {
	var missing []string
	for _, name := range []string{"title", "result"} {
		if len(c.GetRulesExact(pkg.Append(ast.StringTerm(name)))) == 0 {
			missing = append(missing, name)
		}
	}
	return strings.Join(missing, " and ")
}

type sample struct {
	name  string
	value ast.Value
}

// sampleValues are the bundled sample events, parsed.
func sampleValues() []sample {
	var out []sample
	for _, s := range bundled.Samples() {
		ev, err := ParseEvent(s.JSON, "sample")
		if err != nil {
			// Embedded at build time and tested: a broken binary.
			panic("engine: bundled sample " + s.Name + ": " + err.Error())
		}
		out = append(out, sample{name: s.Name, value: ev.value})
	}
	return out
}

// check renders t once on each sample event, so that Rego errors only
// evaluation finds (rules that produce conflicting values, a builtin given
// the wrong type in strict code) show at load and in `check`, not on every
// event after a reload. Failing where it renders nothing else is an error;
// failing on some samples while rendering others, a warning (a template
// written for Trivy reports may trip over a Tracee finding its route never
// feeds it). Rendering nothing is no problem: a template written for other
// events (Trivy Operator reports, Aqua insights) is undefined on these.
func (t *template) check(ctx context.Context, samples []sample, locs locations, file string, line int, key string) (warns, errs config.Errors) {
	var failed, ok []string
	var first error
	for _, s := range samples {
		_, err := t.render(ctx, s.value)
		switch {
		case err == nil:
			ok = append(ok, s.name)
		case errors.Is(err, errNoResult):
		default:
			failed = append(failed, s.name)
			if first == nil {
				first = err
			}
		}
	}
	if len(failed) == 0 {
		return nil, nil
	}
	p := t.evalProblem(first, locs, file, line, key)
	p.Msg = fmt.Sprintf("rendering sample event %s: %s", strings.Join(failed, ", "), p.Msg)
	if len(ok) == 0 {
		return nil, config.Errors{p}
	}
	p.Msg += fmt.Sprintf(" (renders %s)", strings.Join(ok, ", "))
	return config.Errors{p}, nil
}

// evalProblem places an evaluation error at its Rego rule when OPA says
// where, else at the template in cfg.yaml.
func (t *template) evalProblem(err error, locs locations, file string, line int, key string) *config.Error {
	msg := err.Error()
	var te *topdown.Error
	if errors.As(err, &te) {
		msg = te.Code + ": " + te.Message
		if f, l, k := locs.place(te.Location); f != "" {
			file, line = f, l
			if k != "" {
				key = k
			}
		}
	}
	return &config.Error{File: file, Line: line, Key: key, Msg: locs.rewrite(msg)}
}

// rewrite puts the locations OPA names inside a message (a conflict lists
// each rule) at their lines, on one line.
func (l locations) rewrite(msg string) string {
	for name, x := range l {
		if x.shift == nil || !strings.Contains(msg, name+":") {
			continue
		}
		re := regexp.MustCompile(regexp.QuoteMeta(name) + `:(\d+)`)
		msg = re.ReplaceAllStringFunc(msg, func(m string) string {
			row, _ := strconv.Atoi(m[len(name)+1:])
			return fmt.Sprintf("%s:%d", x.file, x.shift(row))
		})
	}
	return strings.Join(strings.Fields(msg), " ")
}
