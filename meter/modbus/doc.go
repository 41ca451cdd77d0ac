// Package modbus reads electricity meters over Modbus: TCP (MBAP framing) and
// RTU frames over TCP (serial gateways), with the meters described as data.
//
// A Profile (configs/meters/*.toml, embedded there as meters.FS and parsed
// with LoadProfiles) lists where a meter keeps each value:
// the function (holding or input registers), the address, the type (16, 32
// or 64-bit integers, IEEE-754 floats), the word/byte order ("abcd" is
// big-endian, "cdab" swaps the 16-bit words, "badc" swaps the bytes within
// words, "dcba" both), a power-of-ten scale, the unit, an optional SunSpec
// scale-factor register and whether the type's extreme values mean "not
// available". Reads are planned as blocks of contiguous registers (a profile
// may allow small gaps and caps the block size), so a three-phase meter is
// read in a few requests instead of one per value.
//
// Values are converted to integers: Wh, W (+ import, − export), mV, mA.
// Integers are scaled exactly (truncating toward zero); floats are rounded to
// the nearest unit (float32 counters resolve about 1 Wh up to 16 MWh).
//
// Selection is explicit: LoadProfiles(fsys) and FindProfile; no init()
// registry, and no import of configs/meters here (the composition root passes
// the profiles in, keeping the driver's imports to meter and unit).
// The serial line (RTU on a UART, several meters per line with pacing) comes
// with a serial-port dependency later; the RTU framing here is the same.
//
// Imports: meter and unit (plus BurntSushi/toml for the profiles).
package modbus
