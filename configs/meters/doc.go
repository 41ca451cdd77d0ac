// Package meters holds the Modbus meter profiles as data: one TOML file per
// meter model (registers, types, word order, scales), embedded in the binary
// as FS. meter/modbus parses them (modbus.LoadProfiles(meters.FS)); the
// composition root (cmd/gridmesh, node) passes FS in, so the driver itself
// imports nothing of gridmesh beyond meter and unit.
//
// To add a meter, add a file here; the modbus tests read every profile from a
// Modbus server.
//
// Imports: nothing of gridmesh (standard library embed only).
package meters

import "embed"

// FS holds the profiles, *.toml at its root.
//
//go:embed *.toml
var FS embed.FS
