// Package sdnotify speaks systemd's notification protocol (sd_notify(3)) for
// a Type=notify service: READY=1, STATUS=, STOPPING=1 and the watchdog's
// WATCHDOG=1, written out as datagrams on the unix socket named by
// NOTIFY_SOCKET. It imports nothing of gridmesh; cmd/gridmesh wires it to
// node.Options.Ready and node.Options.Heartbeat.
//
// Outside systemd (no NOTIFY_SOCKET) a Notifier does nothing, so the same
// binary runs by hand, in tests and under the unit.
//
// Imports: the standard library only.
package sdnotify
