// Package deb builds gridmesh's .deb packages with nfpm as a library: the
// binary cross-built for the target, the hardened systemd unit, the home
// config template as a conffile, and maintainer scripts (scripts/) that make
// the gridmesh system user in the dialout and gpio groups, keep the node's
// key, config and chain on upgrade and remove, and delete them on purge.
//
// The package carries no key: the service makes the node key on the device at
// its first start (firmware.Unit, ExecStartPre=gridmesh keygen).
//
// nfpm is linked only here and into firmware/cmd/mkdeb; a test checks that
// `go list -deps ./cmd/gridmesh` does not reach it.
//
// Imports: firmware (layout, unit, home config), nfpm.
package deb
