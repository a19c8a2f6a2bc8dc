package awssecurityhub

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
)

// awsEnv reads the AWS settings of the environment and of the shared
// config and credentials files, as the AWS CLI and SDKs do.
type awsEnv struct{ getenv func(string) string }

func (e awsEnv) get(key string) string { return strings.TrimSpace(e.getenv(key)) }

// profile is one profile's keys: the credentials file's over the config
// file's. The zero profile has none.
type profile struct {
	name string
	keys map[string]string
}

func (p profile) get(key string) string { return p.keys[key] }

// profile is the profile AWS_PROFILE names, or "default". A profile named
// but found in neither file is an error; the default one may be missing.
func (e awsEnv) profile() (profile, error) {
	name := firstOf(e.get("AWS_PROFILE"), e.get("AWS_DEFAULT_PROFILE"))
	if name == "" {
		return e.loadProfile("default", false)
	}
	return e.loadProfile(name, true)
}

func (e awsEnv) loadProfile(name string, required bool) (profile, error) {
	configFile, credsFile := e.files()
	config, err := readINI(configFile)
	if err != nil {
		return profile{}, err
	}
	creds, err := readINI(credsFile)
	if err != nil {
		return profile{}, err
	}
	p := profile{name: name, keys: map[string]string{}}
	inConfig, ok := config["profile "+name]
	if !ok && name == "default" {
		inConfig, ok = config["default"]
	}
	inCreds, ok2 := creds[name]
	if !ok && !ok2 && required {
		return p, fmt.Errorf("profile %q is in neither %s nor %s", name, configFile, credsFile)
	}
	maps.Copy(p.keys, inConfig)
	maps.Copy(p.keys, inCreds)
	return p, nil
}

// files are the shared config and credentials files: ~/.aws/config and
// ~/.aws/credentials unless set, none without a home directory.
func (e awsEnv) files() (config, creds string) {
	inHome := func(name string) string {
		if home := e.get("HOME"); home != "" {
			return filepath.Join(home, ".aws", name)
		}
		return ""
	}
	return firstOf(e.get("AWS_CONFIG_FILE"), inHome("config")), firstOf(e.get("AWS_SHARED_CREDENTIALS_FILE"), inHome("credentials"))
}

// endpoint is the URL the environment sets for a service
// (AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL), none when
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true.
func (e awsEnv) endpoint(service string) string {
	if strings.EqualFold(e.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return ""
	}
	return firstOf(e.get("AWS_ENDPOINT_URL_"+service), e.get("AWS_ENDPOINT_URL"))
}

// serviceURL is a service's endpoint in region, in the region's partition.
func serviceURL(service, region string) string {
	suffix := "amazonaws.com"
	for prefix, s := range partitions {
		if strings.HasPrefix(region, prefix) {
			suffix = s
		}
	}
	return "https://" + service + "." + region + "." + suffix
}

// partitions are the DNS suffixes of the partitions other than "aws", by
// region prefix (none is a prefix of another).
var partitions = map[string]string{
	"cn-":      "amazonaws.com.cn",
	"us-iso-":  "c2s.ic.gov",
	"us-isob-": "sc2s.sgov.gov",
	"us-isof-": "csp.hci.ic.gov",
	"eu-isoe-": "cloud.adc-e.uk",
}

// readINI reads a shared config or credentials file: [section] lines and
// key = value lines; # and ; start comments. Indented lines (a key's
// sub-properties, as under s3 =) are skipped. A missing file is empty.
func readINI(path string) (map[string]map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	var section map[string]string
	for _, line := range strings.Split(string(b), "\n") {
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		line = strings.TrimSpace(withoutComment(line))
		switch {
		case line == "":
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			if section = out[name]; section == nil {
				section = map[string]string{}
				out[name] = section
			}
		case indented || section == nil:
		default:
			if k, v, ok := cutKey(line); ok {
				section[strings.ToLower(strings.TrimSpace(k))] = unquote(strings.TrimSpace(v))
			}
		}
	}
	return out, nil
}

// cutKey splits "key = value" or, as the SDK also reads, "key: value"
// (whichever separator comes first: role ARNs hold colons).
func cutKey(line string) (key, value string, ok bool) {
	i := strings.IndexAny(line, "=:")
	if i < 0 {
		return "", "", false
	}
	return line[:i], line[i+1:], true
}

// unquote strips one pair of matching outer quotes, as the SDK does.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// withoutComment cuts a line at a comment: one that starts the line, or
// follows a space.
func withoutComment(line string) string {
	if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
		return ""
	}
	for _, marker := range []string{" #", " ;", "\t#", "\t;"} {
		if i := strings.Index(line, marker); i >= 0 {
			line = line[:i]
		}
	}
	return line
}
