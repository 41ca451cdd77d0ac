package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Framing is how requests travel over a TCP connection.
type Framing uint8

const (
	TCP        Framing = iota // Modbus TCP (MBAP header)
	RTUOverTCP                // RTU frames (with CRC) through a serial gateway
)

// ParseFraming parses "tcp" or "rtuovertcp".
func ParseFraming(s string) (Framing, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "rtuovertcp":
		return RTUOverTCP, nil
	}
	return 0, fmt.Errorf("modbus: framing %q: expected tcp or rtuovertcp", s)
}

// ExceptionError is a Modbus exception response.
type ExceptionError struct {
	Function, Code byte
}

func (e *ExceptionError) Error() string {
	names := map[byte]string{1: "illegal function", 2: "illegal data address", 3: "illegal data value",
		4: "server device failure", 6: "server device busy", 10: "gateway path unavailable",
		11: "gateway target device failed to respond"}
	n := names[e.Code]
	if n == "" {
		n = "unknown"
	}
	return fmt.Sprintf("modbus: exception %d (%s) on function %d", e.Code, n, e.Function)
}

// ErrProtocol is wrapped by errors about malformed responses.
var ErrProtocol = errors.New("modbus: bad response")

// DefaultTimeout bounds one request when the context has no earlier deadline.
const DefaultTimeout = 2 * time.Second

// Client talks to one Modbus TCP endpoint (a meter or a gateway with several
// meters behind it). It connects lazily, serialises requests, and after an
// I/O error closes the connection and reconnects on the next request (one
// retry within the same call). It is safe for concurrent use.
type Client struct {
	addr    string
	framing Framing
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	conn net.Conn
	tid  uint16
}

// NewClient returns a client for addr ("host:port").
func NewClient(addr string, f Framing) *Client {
	var d net.Dialer
	return &Client{addr: addr, framing: f, dial: d.DialContext}
}

// Close closes the connection, if any.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// ReadRegisters reads count registers at addr with function 3 (holding) or 4
// (input) from the device unit and returns their bytes (2 per register, as
// sent).
func (c *Client) ReadRegisters(ctx context.Context, unit, function byte, addr, count uint16) ([]byte, error) {
	if count == 0 || count > 125 {
		return nil, fmt.Errorf("modbus: read of %d registers", count)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for range 2 {
		var b []byte
		b, err = c.roundTrip(ctx, unit, function, addr, count)
		if err == nil {
			return b, nil
		}
		var exc *ExceptionError
		if errors.As(err, &exc) {
			return nil, err
		}
		// I/O trouble, a timeout or a garbled answer: a late reply could
		// still arrive on this connection, so start over on a new one.
		if c.conn != nil {
			c.conn.Close()
			c.conn = nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

func (c *Client) roundTrip(ctx context.Context, unit, function byte, addr, count uint16) ([]byte, error) {
	if c.conn == nil {
		dctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		conn, err := c.dial(dctx, "tcp", c.addr)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("modbus: connect %s: %w", c.addr, err)
		}
		c.conn = conn
	}
	deadline := time.Now().Add(DefaultTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	// The func may run after roundTrip returned and c.conn changed: it
	// holds its own copy of the connection.
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	pdu := []byte{function, byte(addr >> 8), byte(addr), byte(count >> 8), byte(count)}
	var resp []byte
	var err error
	switch c.framing {
	case TCP:
		resp, err = c.tcpRoundTrip(unit, pdu)
	default:
		resp, err = c.rtuRoundTrip(unit, pdu)
	}
	if err != nil {
		return nil, fmt.Errorf("modbus: %s unit %d function %d address %d: %w", c.addr, unit, function, addr, err)
	}
	return checkPDU(resp, function, count)
}

// checkPDU checks a response PDU (function, byte count, data) and returns the data.
func checkPDU(resp []byte, function byte, count uint16) ([]byte, error) {
	if len(resp) >= 2 && resp[0] == function|0x80 {
		return nil, &ExceptionError{Function: function, Code: resp[1]}
	}
	if len(resp) < 2 || resp[0] != function {
		return nil, fmt.Errorf("%w: function %x", ErrProtocol, resp)
	}
	if int(resp[1]) != 2*int(count) || len(resp) != 2+2*int(count) {
		return nil, fmt.Errorf("%w: %d data bytes for %d registers", ErrProtocol, resp[1], count)
	}
	return resp[2:], nil
}

func (c *Client) tcpRoundTrip(unit byte, pdu []byte) ([]byte, error) {
	c.tid++
	req := make([]byte, 7, 7+len(pdu))
	binary.BigEndian.PutUint16(req[0:], c.tid)
	binary.BigEndian.PutUint16(req[4:], uint16(1+len(pdu)))
	req[6] = unit
	req = append(req, pdu...)
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	for {
		var h [7]byte
		if _, err := io.ReadFull(c.conn, h[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(h[4:]))
		if binary.BigEndian.Uint16(h[2:]) != 0 || n < 2 || n > 254 {
			return nil, fmt.Errorf("%w: MBAP header %x", ErrProtocol, h)
		}
		body := make([]byte, n-1)
		if _, err := io.ReadFull(c.conn, body); err != nil {
			return nil, err
		}
		if tid := binary.BigEndian.Uint16(h[0:]); tid != c.tid {
			continue // a late answer to an earlier, timed-out request
		}
		if h[6] != unit {
			return nil, fmt.Errorf("%w: unit %d answered for %d", ErrProtocol, h[6], unit)
		}
		return body, nil
	}
}

func (c *Client) rtuRoundTrip(unit byte, pdu []byte) ([]byte, error) {
	if _, err := c.conn.Write(rtuFrame(unit, pdu)); err != nil {
		return nil, err
	}
	// unit, function, then either an exception code or a byte count.
	var h [3]byte
	if _, err := io.ReadFull(c.conn, h[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, rtuLen(h[1], h[2]))
	copy(frame, h[:])
	if _, err := io.ReadFull(c.conn, frame[3:]); err != nil {
		return nil, err
	}
	return checkRTU(frame, unit)
}

// CRC16 is the Modbus RTU CRC (reflected 0x8005, initial 0xFFFF), sent low
// byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xffff)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xa001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
