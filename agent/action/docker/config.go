package docker

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/postee-fleet/posteed/agent/config"
)

// DefaultSocket is where the Docker Engine (or Podman's Docker-compatible
// service) listens.
const DefaultSocket = "/var/run/docker.sock"

// DefaultTimeout bounds one run, pull included, when the action sets none.
const DefaultTimeout = 5 * time.Minute

// Config holds the Postee keys of a docker action, plus docker-socket and
// timeout.
type Config struct {
	// Image is the image to run; pulled when the host does not have it.
	Image string `yaml:"docker-image-name"`
	// Cmd is the container's command; an element that is an event.input
	// reference is replaced by that value of the event.
	Cmd []string `yaml:"docker-cmd"`
	// Env adds "NAME=value" entries; a value may be a reference ($NAME,
	// ${NAME}, file:PATH), resolved on the host the action runs on.
	Env []config.EnvVar `yaml:"docker-env"`
	// Network is the container's network mode: "host", "bridge", "none" or
	// a network's name.
	Network string `yaml:"docker-network"`
	// Mounts maps a host path (absolute) or a volume name to a path in the
	// container.
	Mounts map[string]string `yaml:"docker-volume-mounts"`
	// Socket is the Docker Engine API's unix socket (ours).
	Socket string `yaml:"docker-socket"`
	// Timeout bounds one run (ours); the container is removed when it passes.
	Timeout config.Duration `yaml:"timeout"`
}

var volumeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (c *Config) setDefaults() {
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
}

func (c *Config) validate() error {
	c.Image = strings.TrimSpace(c.Image)
	if c.Image == "" {
		return errors.New("docker-image-name is required")
	}
	if strings.ContainsAny(c.Image, " \t\r\n?#") {
		return fmt.Errorf("docker-image-name %q is not an image reference", c.Image)
	}
	if !filepath.IsAbs(c.Socket) {
		return fmt.Errorf("docker-socket %q must be an absolute path", c.Socket)
	}
	_, err := c.mounts()
	return err
}

// mount is one entry of the Engine API's HostConfig.Mounts.
type mount struct {
	Type   string `json:"Type"`
	Source string `json:"Source"`
	Target string `json:"Target"`
}

// mounts turns docker-volume-mounts into bind mounts (absolute host paths)
// and volume mounts (names), in a stable order.
func (c *Config) mounts() ([]mount, error) {
	var out []mount
	for src, dst := range c.Mounts {
		if !filepath.IsAbs(dst) {
			return nil, fmt.Errorf("docker-volume-mounts: target %q must be an absolute path", dst)
		}
		switch {
		case filepath.IsAbs(src):
			out = append(out, mount{Type: "bind", Source: src, Target: dst})
		case volumeName.MatchString(src):
			out = append(out, mount{Type: "volume", Source: src, Target: dst})
		default:
			return nil, fmt.Errorf("docker-volume-mounts: source %q must be an absolute host path or a volume name", src)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out, nil
}
