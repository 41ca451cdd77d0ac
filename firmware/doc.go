// Package firmware is the device side of gridmesh: what turns a Raspberry Pi
// with a blank SD card into an enrolled, trading home.
//
//   - gridmesh.service: the hardened systemd unit (Type=notify, watchdog);
//   - the device's file layout (the Path constants) and the home config the
//     package installs as its conffile and that provisioning writes
//     (HomeConfig, ParseMeter);
//   - deb/: the .deb packages built with nfpm (go run ./firmware/cmd/mkdeb);
//     nfpm is linked only into that program, never into gridmesh;
//   - sdnotify/: systemd's notification protocol (READY, watchdog);
//   - the first-boot files provisioning writes onto a boot partition
//     (cloud-init user-data and network-config, firstrun.sh: Provisioning).
//
// Keys are born on the device: the unit's ExecStartPre runs
// `gridmesh keygen`, which creates the node key at first start. Neither the
// package nor the boot partition carries one.
//
// Updates (A/B slots, signed manifests) are not here: issue 17.
//
// Imports: config and unit of gridmesh; deb/ also nfpm.
package firmware
