// Package unit holds the integer unit types that several gridmesh packages share:
// energy (Wh), power (W), price (micro-units per kWh), money (micro-units) and the
// delivery slot index.
//
// Money, energy and consensus never use floating point (DESIGN.md, Units). The one
// conversion between them, Amount, rounds toward zero the same way everywhere;
// callers that must balance to the micro-unit account for the dropped remainder
// explicitly.
//
// Imports: nothing of gridmesh. Every other package may import unit.
package unit
