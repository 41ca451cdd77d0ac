package modbus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.bug.st/serial"
)

// Conn is what a Meter reads through: a Client (Modbus TCP, RTU over TCP) or
// a Line (RTU on a serial line). Both are safe for concurrent use, so several
// Meters may share one.
type Conn interface {
	ReadRegisters(ctx context.Context, unit, function byte, addr, count uint16) ([]byte, error)
}

// SerialConfig describes one serial line (RS-485 or RS-232) with one or more
// meters on it. Zero fields take the defaults given.
type SerialConfig struct {
	Device   string // e.g. /dev/ttyUSB0 (required)
	Baud     int    // default 9600
	DataBits int    // 7 or 8, default 8
	Parity   string // "N" (default), "E" or "O"
	StopBits int    // 1 (default) or 2

	// Timeout bounds the wait for one answer (a context deadline may end
	// it earlier). Default 1 s.
	Timeout time.Duration
	// Retries is the number of further attempts after a timeout, a garbled
	// answer or a vanished port (not after an exception). 0 means the
	// default of 1; negative means none.
	Retries int
	// Gap is the least silence on the line between the end of one frame
	// and the next request: the RTU inter-frame delay of 3.5 character
	// times (at least 1.75 ms, as the spec fixes above 19200 baud) by
	// default. Slow meters and RS-485 adapters that turn the line around
	// slowly need more.
	Gap time.Duration
	// DeviceGap is the least time between the end of one exchange with a
	// unit and the next request to the same unit (default 0). Some meters
	// (Eastron's among them) drop requests that follow each other too
	// closely; other units on the line may be served in between.
	DeviceGap time.Duration
}

// frameGap is the default inter-frame silence for a baud rate: 3.5
// characters of 11 bits, at least 1.75 ms.
func frameGap(baud int) time.Duration {
	g := time.Duration(3.5 * 11 * float64(time.Second) / float64(baud))
	return max(g, 1750*time.Microsecond)
}

func (c SerialConfig) withDefaults() (SerialConfig, error) {
	if c.Device == "" {
		return c, errors.New("modbus: serial line: no device")
	}
	if c.Baud == 0 {
		c.Baud = 9600
	}
	if c.DataBits == 0 {
		c.DataBits = 8
	}
	if c.Parity == "" {
		c.Parity = "N"
	}
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.Retries == 0 {
		c.Retries = 1
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Gap <= 0 {
		c.Gap = frameGap(c.Baud)
	}
	var errs []error
	if c.Baud < 300 || c.Baud > 4_000_000 {
		errs = append(errs, fmt.Errorf("baud %d not in 300..4000000", c.Baud))
	}
	if c.DataBits != 7 && c.DataBits != 8 {
		errs = append(errs, fmt.Errorf("data bits %d: expected 7 or 8", c.DataBits))
	}
	if c.Parity != "N" && c.Parity != "E" && c.Parity != "O" {
		errs = append(errs, fmt.Errorf("parity %q: expected N, E or O", c.Parity))
	}
	if c.StopBits != 1 && c.StopBits != 2 {
		errs = append(errs, fmt.Errorf("stop bits %d: expected 1 or 2", c.StopBits))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("modbus: serial line %s: %w", c.Device, err)
	}
	return c, nil
}

func (c SerialConfig) mode() *serial.Mode {
	m := &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, StopBits: serial.OneStopBit}
	switch c.Parity {
	case "E":
		m.Parity = serial.EvenParity
	case "O":
		m.Parity = serial.OddParity
	}
	if c.StopBits == 2 {
		m.StopBits = serial.TwoStopBits
	}
	return m
}

// Line is one serial line carrying Modbus RTU, with any number of meters
// (units) on it. Exchanges are serialised by a line mutex and paced: Gap of
// silence between frames on the line, DeviceGap between exchanges with the
// same unit. The port is opened on the first request and, after it fails
// (an adapter unplugged, a read error), closed and opened again on the next
// attempt. A Line is safe for concurrent use.
type Line struct {
	cfg  SerialConfig
	open func(name string, mode *serial.Mode) (serial.Port, error)

	mu       sync.Mutex
	port     serial.Port
	lastEnd  time.Time          // end of the last exchange on the line
	lastUnit map[byte]time.Time // end of the last exchange per unit
}

// NewLine returns a Line for cfg; it does not open the port yet.
func NewLine(cfg SerialConfig) (*Line, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Line{cfg: cfg, open: serial.Open, lastUnit: map[byte]time.Time{}}, nil
}

// Config returns the line's configuration with the defaults filled in.
func (l *Line) Config() SerialConfig { return l.cfg }

// Close closes the port, if open. A later request opens it again.
func (l *Line) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closePort()
}

func (l *Line) closePort() error {
	if l.port == nil {
		return nil
	}
	err := l.port.Close()
	l.port = nil
	return err
}

// ErrNoAnswer is wrapped (together with os.ErrDeadlineExceeded) by the
// error of a request that got no complete answer in time.
var ErrNoAnswer = errors.New("modbus: no answer")

// ReadRegisters reads count registers at addr with function 3 or 4 from the
// unit on the line, retrying as configured.
func (l *Line) ReadRegisters(ctx context.Context, unit, function byte, addr, count uint16) ([]byte, error) {
	if count == 0 || count > 125 {
		return nil, fmt.Errorf("modbus: read of %d registers", count)
	}
	pdu := []byte{function, byte(addr >> 8), byte(addr), byte(count >> 8), byte(count)}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for range 1 + l.cfg.Retries {
		var resp []byte
		resp, err = l.exchange(ctx, unit, pdu)
		if err == nil {
			var data []byte
			data, err = checkPDU(resp, function, count)
			if err == nil {
				return data, nil
			}
		}
		err = fmt.Errorf("modbus: %s unit %d function %d address %d: %w", l.cfg.Device, unit, function, addr, err)
		var exc *ExceptionError
		if errors.As(err, &exc) || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

// exchange sends one request frame and returns the answer's PDU.
func (l *Line) exchange(ctx context.Context, unit byte, pdu []byte) ([]byte, error) {
	if l.port == nil {
		p, err := l.open(l.cfg.Device, l.cfg.mode())
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		l.port = p
	}
	// Pacing: silence on the line, and rest for this unit.
	wait := l.lastEnd.Add(l.cfg.Gap)
	if t := l.lastUnit[unit].Add(l.cfg.DeviceGap); t.After(wait) {
		wait = t
	}
	if d := time.Until(wait); d > 0 {
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return nil, ctx.Err()
		case <-tm.C:
		}
	}
	defer func() {
		now := time.Now()
		l.lastEnd, l.lastUnit[unit] = now, now
	}()
	// A late answer to an earlier request must not be taken for this one.
	if err := l.port.ResetInputBuffer(); err != nil {
		l.closePort()
		return nil, err
	}
	frame := rtuFrame(unit, pdu)
	if _, err := l.port.Write(frame); err != nil {
		l.closePort()
		return nil, fmt.Errorf("write: %w", err)
	}
	deadline := time.Now().Add(l.cfg.Timeout + time.Duration(len(frame))*l.charTime())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, 0, 256)
	need := 5 // the shortest answer: an exception
	chunk := make([]byte, 256)
	for len(buf) < need {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w within %v (%d bytes): %w", ErrNoAnswer, l.cfg.Timeout, len(buf), os.ErrDeadlineExceeded)
		}
		// Short reads keep the loop responsive to ctx.
		if err := l.port.SetReadTimeout(min(left, 50*time.Millisecond)); err != nil {
			l.closePort()
			return nil, err
		}
		n, err := l.port.Read(chunk[:min(len(chunk), 256-len(buf))])
		if err != nil {
			l.closePort()
			return nil, fmt.Errorf("read: %w", err)
		}
		buf = append(buf, chunk[:n]...)
		if len(buf) >= 3 {
			need = rtuLen(buf[1], buf[2])
		}
	}
	return checkRTU(buf[:need], unit)
}

// charTime is the time one character takes on the line.
func (l *Line) charTime() time.Duration {
	return time.Duration(11 * float64(time.Second) / float64(l.cfg.Baud))
}

// rtuFrame returns the RTU frame of a request: unit, PDU, CRC (low byte first).
func rtuFrame(unit byte, pdu []byte) []byte {
	f := append([]byte{unit}, pdu...)
	crc := CRC16(f)
	return append(f, byte(crc), byte(crc>>8))
}

// rtuLen is the length of an answer frame from its function byte and the
// byte after it (exception code or byte count).
func rtuLen(function, next byte) int {
	if function&0x80 != 0 {
		return 5
	}
	return 3 + int(next) + 2
}

// checkRTU checks an answer frame's CRC and unit and returns its PDU.
func checkRTU(frame []byte, unit byte) ([]byte, error) {
	n := len(frame)
	if n < 4 {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, n)
	}
	if got := CRC16(frame[:n-2]); got != uint16(frame[n-2])|uint16(frame[n-1])<<8 {
		return nil, fmt.Errorf("%w: crc mismatch", ErrProtocol)
	}
	if frame[0] != unit {
		return nil, fmt.Errorf("%w: unit %d answered for %d", ErrProtocol, frame[0], unit)
	}
	return frame[1 : n-2], nil
}
