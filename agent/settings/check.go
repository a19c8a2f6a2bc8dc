package settings

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/postee-fleet/posteed/agent/config"
)

// Checker collects the problems of a settings file's values for `check`,
// each at the line of the file that sets the key (0 when a flag or the
// default set it).
type Checker struct {
	File string
	Errs config.Errors
	text string
}

// NewChecker checks the values loaded from file.
func NewChecker(file string) *Checker {
	b, _ := os.ReadFile(file)
	return &Checker{File: file, text: string(b)}
}

// Add records a problem with key.
func (c *Checker) Add(key, format string, args ...any) {
	c.Errs = append(c.Errs, &config.Error{File: c.File, Line: lineOf(c.text, key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Addr checks a listen address: "" (off) or host:port.
func (c *Checker) Addr(key, value string) {
	if value == "" {
		return
	}
	if _, port, err := net.SplitHostPort(value); err != nil {
		c.Add(key, "%q is not host:port", value)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		c.Add(key, "%q: port %q is not a number up to 65535", value, port)
	}
}

// LogLevel checks a log level as the daemons read it.
func (c *Checker) LogLevel(key, value string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(value))); err != nil {
		c.Add(key, "%q: use debug, info, warn or error", value)
	}
}

// Positive checks a size or count that must be above zero.
func (c *Checker) Positive(key string, v int64) {
	if v <= 0 {
		c.Add(key, "%d: must be more than 0", v)
	}
}

// NotNegative checks a size whose 0 means "sized automatically".
func (c *Checker) NotNegative(key string, v int64) {
	if v < 0 {
		c.Add(key, "%d: must be 0 (automatic) or more", v)
	}
}

// Readable checks a file setting. A relative name is a systemd credential
// (LoadCredential=), resolved when the daemon starts: not checked here.
func (c *Checker) Readable(key, value string) {
	if value == "" || !filepath.IsAbs(value) {
		return
	}
	f, err := os.Open(value)
	if err != nil {
		c.Add(key, "cannot read %s: %v", value, unwrapPath(err))
		return
	}
	f.Close()
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
