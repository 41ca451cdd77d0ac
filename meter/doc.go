// Package meter owns the home's view of its electricity meter: the Reading type,
// the Reader port that every driver implements, the Sampler that polls a Reader
// and rejects implausible readings, and the Journal, an append-only, hash-chained
// log of accepted readings kept in badger.
//
// The one shared port is Reader (STYLE.md 4): many drivers (meter/modbus,
// meter/dsmr, meter/sml, meter/sim, ...) implement it, several consumers (the
// sampler, `gridmesh meter read`, the node) use it. Drivers live in
// subpackages and import meter and unit only; meter itself imports unit only.
//
// Meters that send on their own (DSMR P1, SML) feed a Pusher, which serves
// the newest reading as a Reader.
//
// Units: counters are watt-hours (unit.Wh), power is watts (unit.W, positive =
// import from the grid, negative = export), per-phase voltage and current are
// integer millivolts and milliamps. No floating point reaches a Reading.
//
// The journal is the evidence behind a node's meter attestations. It keeps three
// invariants that Append enforces: entries are numbered 1, 2, 3, ... without gaps,
// reading times strictly increase, and neither counter decreases. Each entry
// carries the SHA-256 of the previous entry's encoding, so Verify can check the
// whole history and Head commits to all of it.
//
// Imports: unit only (plus badger for the journal).
package meter
