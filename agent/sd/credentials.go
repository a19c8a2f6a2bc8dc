package sd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Credential resolves a file named in a daemon config, such as a TLS
// certificate. An absolute path is returned as it is. A relative name is a
// credential when systemd passed any ($CREDENTIALS_DIRECTORY, from
// LoadCredential=), and stays relative otherwise.
//
// configured is false for an empty name and for a credential holding only
// whitespace: the units give every TLS credential such a blank
// SetCredential= fallback, because systemd 252 fails a unit whose
// LoadCredential= file is missing. Treat it as "TLS not set up".
func Credential(name string) (path string, configured bool, err error) {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	switch {
	case name == "":
		return "", false, nil
	case filepath.IsAbs(name) || dir == "":
		return name, true, nil
	case !filepath.IsLocal(name):
		return "", false, fmt.Errorf("credential %q: not a file name inside $CREDENTIALS_DIRECTORY", name)
	}
	path = filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("credential %q (is it in the unit's LoadCredential=?): %w", name, err)
	}
	return path, len(bytes.TrimSpace(data)) > 0, nil
}

// ResolveCredentials applies Credential to each setting in place: a
// relative name becomes its path under $CREDENTIALS_DIRECTORY and a blank
// credential becomes "" (not configured).
func ResolveCredentials(settings ...*string) error {
	for _, p := range settings {
		path, ok, err := Credential(*p)
		if err != nil {
			return err
		}
		if !ok {
			path = ""
		}
		*p = path
	}
	return nil
}
