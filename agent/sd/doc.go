// Package sd is what the daemons need from systemd: readiness, reload and
// watchdog notifications, socket-activated listeners and native journald
// logging. Everything degrades to a no-op (or to plain stderr logging) when
// the process is not run by systemd, so the daemons behave the same in a
// terminal, a container or a test.
package sd
