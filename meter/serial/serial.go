package serial

import (
	"fmt"

	bug "go.bug.st/serial"
)

// Port is an open serial port.
type Port = bug.Port

// Config is one port's settings.
type Config struct {
	Device string // e.g. /dev/ttyAMA0, /dev/ttyUSB0
	Baud   int    // e.g. 115200
	Format string // data bits, parity (N, E, O) and stop bits, e.g. "8N1" (default), "7E1"
}

// Settings of the push meters: DSMR 4 and 5 (and e-MUCS, Smarty) send at
// 115200 8N1, DSMR 2.2 and 3 at 9600 7E1, SML read heads at 9600 8N1.
var (
	DSMR4 = Config{Baud: 115200, Format: "8N1"}
	DSMR2 = Config{Baud: 9600, Format: "7E1"}
	SML   = Config{Baud: 9600, Format: "8N1"}
)

// Mode parses Format and Baud into the port mode.
func (c Config) Mode() (*bug.Mode, error) {
	f := c.Format
	if f == "" {
		f = "8N1"
	}
	if c.Baud < 50 || c.Baud > 4_000_000 {
		return nil, fmt.Errorf("serial: %s: baud %d not in 50..4000000", c.Device, c.Baud)
	}
	if len(f) != 3 || (f[0] != '7' && f[0] != '8') || (f[2] != '1' && f[2] != '2') {
		return nil, fmt.Errorf("serial: %s: format %q: expected data bits, parity, stop bits such as 8N1 or 7E1", c.Device, c.Format)
	}
	m := &bug.Mode{BaudRate: c.Baud, DataBits: int(f[0] - '0'), StopBits: bug.OneStopBit}
	switch f[1] {
	case 'N':
	case 'E':
		m.Parity = bug.EvenParity
	case 'O':
		m.Parity = bug.OddParity
	default:
		return nil, fmt.Errorf("serial: %s: format %q: parity must be N, E or O", c.Device, c.Format)
	}
	if f[2] == '2' {
		m.StopBits = bug.TwoStopBits
	}
	return m, nil
}

// Open opens the port with c's settings. Reads block until data arrives;
// closing the port ends a blocked read (the way to stop dsmr.Run, sml.Run).
func Open(c Config) (Port, error) {
	m, err := c.Mode()
	if err != nil {
		return nil, err
	}
	p, err := bug.Open(c.Device, m)
	if err != nil {
		return nil, fmt.Errorf("serial: open %s: %w", c.Device, err)
	}
	return p, nil
}
