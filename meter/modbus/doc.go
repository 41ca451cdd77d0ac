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
// Three ways to reach a meter, all behind Conn: a Client over TCP (Modbus
// TCP, or RTU frames through a serial gateway: RTUOverTCP), and a Line, RTU
// on a serial port (go.bug.st/serial) with several meters (units) on one
// RS-485 bus. A Line serialises exchanges with a mutex, keeps the line
// silent for Gap between frames (3.5 characters, at least 1.75 ms) and for
// DeviceGap between exchanges with the same unit, bounds each answer by
// Timeout, retries timeouts and garbled frames (never exceptions), flushes
// late answers before each request, and reopens a port that vanished.
//
// Imports: meter and unit (plus BurntSushi/toml and go.bug.st/serial).
package modbus
