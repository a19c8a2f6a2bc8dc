// Package all registers every action type: import it for its side effect.
package all

// One import per action package, kept sorted; each registers itself in
// action.Default from init.
import (
	_ "github.com/postee-fleet/posteed/agent/action/awssecurityhub"
	_ "github.com/postee-fleet/posteed/agent/action/dependencytrack"
	_ "github.com/postee-fleet/posteed/agent/action/docker"
	_ "github.com/postee-fleet/posteed/agent/action/email"
	_ "github.com/postee-fleet/posteed/agent/action/exec"
	_ "github.com/postee-fleet/posteed/agent/action/http"
	_ "github.com/postee-fleet/posteed/agent/action/jira"
	_ "github.com/postee-fleet/posteed/agent/action/kubernetes"
	_ "github.com/postee-fleet/posteed/agent/action/nexusiq"
	_ "github.com/postee-fleet/posteed/agent/action/opsgenie"
	_ "github.com/postee-fleet/posteed/agent/action/pagerduty"
	_ "github.com/postee-fleet/posteed/agent/action/servicenow"
	_ "github.com/postee-fleet/posteed/agent/action/slack"
	_ "github.com/postee-fleet/posteed/agent/action/splunk"
	_ "github.com/postee-fleet/posteed/agent/action/stdout"
	_ "github.com/postee-fleet/posteed/agent/action/teams"
	_ "github.com/postee-fleet/posteed/agent/action/webhook"
	// other action packages add themselves here
)
