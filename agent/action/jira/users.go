package jira

import (
	"context"
	"github.com/postee-fleet/posteed/agent/logx"
	"net/http"
	"net/url"

	"github.com/postee-fleet/posteed/agent/action"
)

// ownerPlaceholder stands for the first Aqua application scope owner in the event.
const ownerPlaceholder = "<%application_scope_owner%>"

// assignee returns the assignee field: the first configured assignee (the
// owner placeholder expanded from the event), else the user, as in Postee.
// A Cloud user that cannot be found leaves the issue unassigned.
func (j *Jira) assignee(ctx context.Context, m action.Message) any {
	who := j.cfg.User
	for _, a := range j.cfg.Assignee {
		if a == ownerPlaceholder {
			a = firstOwner(m.Doc())
		}
		if a != "" {
			who = a
			break
		}
	}
	if who == "" {
		return nil
	}
	ref, err := j.userRef(ctx, who)
	if err != nil {
		j.log.Warn("jira: assignee not found; issue left unassigned", "assignee", who, logx.Err(err))
		return nil
	}
	return ref
}

// userRef names a user the way the site wants it: account id on Cloud,
// user name on Server/Data Center.
func (j *Jira) userRef(ctx context.Context, who string) (map[string]string, error) {
	if !j.cloud {
		return map[string]string{"name": who}, nil
	}
	j.mu.Lock()
	id, ok := j.accounts[who]
	j.mu.Unlock()
	if ok {
		return map[string]string{"accountId": id}, nil
	}
	var users []struct {
		AccountID string `json:"accountId"`
	}
	if _, err := j.call(ctx, http.MethodGet, "/rest/api/2/user/search?query="+url.QueryEscape(who), nil, &users); err != nil {
		return nil, err
	}
	if len(users) == 0 || users[0].AccountID == "" {
		return nil, errNoUser
	}
	j.mu.Lock()
	j.accounts[who] = users[0].AccountID
	j.mu.Unlock()
	return map[string]string{"accountId": users[0].AccountID}, nil
}

func firstOwner(input any) string {
	doc, _ := input.(map[string]any)
	list, _ := doc["application_scope_owners"].([]any)
	for _, o := range list {
		if s, ok := o.(string); ok && s != "" {
			return s
		}
	}
	return ""
}
