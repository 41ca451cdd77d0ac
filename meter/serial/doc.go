// Package serial opens the serial ports that meters hang on (a DSMR P1
// cable, an SML optical read head, an RS-485 adapter) with the line settings
// given as one word, such as "8N1" or "7E1", for the composition root
// (cmd/gridmesh, node) to hand to a push driver (dsmr.Run, sml.Run). The
// Modbus driver opens its own line (modbus.NewLine).
//
// Subpackage serialtest makes virtual serial pairs (socat) for tests.
//
// Imports: nothing of gridmesh (go.bug.st/serial).
package serial
