package sd

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/coreos/go-systemd/v22/activation"
)

// ErrNoAddress is returned by Listen when systemd passed no socket of that
// name and no address is configured: the daemon may treat it as "disabled".
var ErrNoAddress = errors.New("no activated socket and no address to bind")

// Listeners returns the socket-activated listeners keyed by their
// FileDescriptorName=, or an empty map without socket activation. It unsets
// LISTEN_* so child processes do not think the sockets are theirs. When
// names are given, a socket with any other name is an error: it is almost
// always a typo in a .socket unit, and ignoring it would leave a port open
// that nobody serves.
func Listeners(names ...string) (map[string][]net.Listener, error) {
	got, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	if len(names) == 0 {
		return got, nil
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if !slices.Contains(names, name) {
			closeAll(got)
			return nil, fmt.Errorf("activated socket named %q, want one of %q (check FileDescriptorName= in the .socket unit)", name, names)
		}
	}
	return got, nil
}

// Listen returns the activated listener called name, or binds addr over TCP
// when systemd passed none.
func Listen(activated map[string][]net.Listener, name, addr string) (net.Listener, error) {
	switch ls := activated[name]; len(ls) {
	case 0:
	case 1:
		return ls[0], nil
	default:
		return nil, fmt.Errorf("%d activated sockets named %q, want one", len(ls), name)
	}
	if addr == "" {
		return nil, fmt.Errorf("listener %q: %w", name, ErrNoAddress)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", name, err)
	}
	return l, nil
}

func closeAll(m map[string][]net.Listener) {
	for _, ls := range m {
		for _, l := range ls {
			_ = l.Close()
		}
	}
}

// ListenOptional is Listen for a listener that may be off: an empty
// address without an activated socket gives a nil listener, not an error.
func ListenOptional(activated map[string][]net.Listener, name, addr string) (net.Listener, error) {
	ln, err := Listen(activated, name, addr)
	if errors.Is(err, ErrNoAddress) {
		return nil, nil
	}
	return ln, err
}
