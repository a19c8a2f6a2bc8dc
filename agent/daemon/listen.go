package daemon

import (
	"log/slog"
	"maps"
	"net"
	"slices"
)

// OnlyActivated turns off every listener systemd did not pass when it passed
// any. Under socket activation the .socket units are the daemon's listeners:
// masking postee-runner-https.socket must switch HTTPS off, not make the
// daemon bind the settings' default address itself. addrs maps a
// FileDescriptorName= to the address setting to clear.
func OnlyActivated(activated map[string][]net.Listener, addrs map[string]*string, log *slog.Logger) {
	if len(activated) == 0 {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(addrs)) {
		if addr := addrs[name]; len(activated[name]) == 0 && *addr != "" {
			log.Info("socket-activated without this listener; it stays off", "listener", name, "address", *addr)
			*addr = ""
		}
	}
}
