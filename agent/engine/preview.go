package engine

import "github.com/postee-fleet/posteed/agent/action"

// Preview returns what action name would send for m, when it is an
// action.Previewer built here (or kept with Options.Previews); ok is false
// for actions that send the rendered message as it is. Nothing is sent.
func (e *Engine) Preview(m Match, name string) (body string, ok bool) {
	a, found := e.actions[name]
	if !found {
		a, found = e.remote[name]
	}
	p, isPreviewer := a.(action.Previewer)
	if !found || !isPreviewer {
		return "", false
	}
	if m.Msg.Input == nil && m.Msg.LazyInput == nil && m.ev != nil {
		m.Msg.LazyInput = m.ev.Doc // decoded once, if an action reads it
	}
	return p.Preview(m.Msg), true
}
