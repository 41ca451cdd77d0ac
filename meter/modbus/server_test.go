package modbus

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/gridmesh/gridmesh/configs/meters"
)

// testProfile returns the profile name from configs/meters.
func testProfile(name string) (Profile, error) {
	ps, err := LoadProfiles(meters.FS)
	if err != nil {
		return Profile{}, err
	}
	return FindProfile(ps, name)
}

// device is a test double of a Modbus device (or a gateway with several
// units): it answers function 3 and 4 from register maps over Modbus TCP or
// RTU-over-TCP on a loopback listener.
type device struct {
	t       testing.TB
	ln      net.Listener
	framing Framing

	mu        sync.Mutex
	regs      map[byte]map[uint16]uint16          // function -> address -> value
	unitRegs  map[byte]map[byte]map[uint16]uint16 // if set: unit -> regs; other units stay silent (a bus)
	exception byte                                // answer every request with this exception (0 = none)
	silent    bool                                // read requests but never answer
	corrupt   int                                 // garble the CRC of this many next RTU answers
	requests  int
	arrivals  []arrival
	conns     []net.Conn
	ports     []serial.Port
	wg        sync.WaitGroup
}

func newDevice(t testing.TB, f Framing) *device {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, ln: ln, framing: f, regs: map[byte]map[uint16]uint16{FuncHolding: {}, FuncInput: {}}}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(d.close)
	return d
}

// arrival is when a request for a unit was read.
type arrival struct {
	unit byte
	at   time.Time
}

// newSerialDevice serves RTU on the serial port path (one end of a socat
// pair) until the test ends or the port vanishes; serveSerial starts it again.
func newSerialDevice(t testing.TB, path string) *device {
	d := &device{t: t, framing: RTUOverTCP, regs: map[byte]map[uint16]uint16{FuncHolding: {}, FuncInput: {}}}
	d.serveSerial(path)
	t.Cleanup(func() {
		d.dropConns()
		d.wg.Wait()
	})
	return d
}

// serveSerial opens path and answers requests on it.
func (d *device) serveSerial(path string) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 9600})
	if err != nil {
		d.t.Fatalf("device: open %s: %v", path, err)
	}
	d.mu.Lock()
	d.ports = append(d.ports, p)
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer p.Close()
		d.handle(p)
	}()
}

// setUnit puts registers into the map of one unit (making the device a bus
// of units).
func (d *device) setUnit(unit, fn byte, addr uint16, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unitRegs == nil {
		d.unitRegs = map[byte]map[byte]map[uint16]uint16{}
	}
	if d.unitRegs[unit] == nil {
		d.unitRegs[unit] = map[byte]map[uint16]uint16{FuncHolding: {}, FuncInput: {}}
	}
	for i := 0; i+1 < len(b); i += 2 {
		d.unitRegs[unit][fn][addr+uint16(i/2)] = binary.BigEndian.Uint16(b[i:])
	}
}

func (d *device) addr() string { return d.ln.Addr().String() }

func (d *device) close() {
	if d.ln != nil {
		d.ln.Close()
	}
	d.dropConns()
	d.wg.Wait()
}

// dropConns closes every open connection: the device restarts.
func (d *device) dropConns() {
	d.mu.Lock()
	for _, c := range d.conns {
		c.Close()
	}
	for _, p := range d.ports {
		p.Close()
	}
	d.conns, d.ports = nil, nil
	d.mu.Unlock()
}

func (d *device) set(fn byte, addr uint16, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 0; i+1 < len(b); i += 2 {
		d.regs[fn][addr+uint16(i/2)] = binary.BigEndian.Uint16(b[i:])
	}
}

func (d *device) serve() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer c.Close()
			d.handle(c)
		}()
	}
}

func (d *device) handle(c io.ReadWriter) {
	for {
		var unit byte
		var pdu []byte
		var tid [2]byte
		if d.framing == TCP {
			var h [7]byte
			if _, err := io.ReadFull(c, h[:]); err != nil {
				return
			}
			copy(tid[:], h[:2])
			unit = h[6]
			pdu = make([]byte, int(binary.BigEndian.Uint16(h[4:]))-1)
			if _, err := io.ReadFull(c, pdu); err != nil {
				return
			}
		} else {
			f := make([]byte, 8)
			if _, err := io.ReadFull(c, f); err != nil {
				return
			}
			if CRC16(f[:6]) != uint16(f[6])|uint16(f[7])<<8 {
				d.t.Errorf("device: bad request crc")
				return
			}
			unit, pdu = f[0], f[1:6]
		}
		resp := d.answer(unit, pdu)
		if resp == nil {
			continue
		}
		var out []byte
		if d.framing == TCP {
			out = append(tid[:], 0, 0, 0, byte(1+len(resp)), unit)
			out = append(out, resp...)
		} else {
			out = append([]byte{unit}, resp...)
			crc := CRC16(out)
			d.mu.Lock()
			if d.corrupt > 0 {
				d.corrupt--
				crc ^= 0x5555
			}
			d.mu.Unlock()
			out = append(out, byte(crc), byte(crc>>8))
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (d *device) answer(unit byte, pdu []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests++
	d.arrivals = append(d.arrivals, arrival{unit, time.Now()})
	regs := d.regs
	if d.unitRegs != nil {
		regs = d.unitRegs[unit]
	}
	if d.silent || regs == nil {
		return nil
	}
	fn := pdu[0]
	if d.exception != 0 {
		return []byte{fn | 0x80, d.exception}
	}
	if fn != FuncHolding && fn != FuncInput {
		return []byte{fn | 0x80, 1}
	}
	addr, count := binary.BigEndian.Uint16(pdu[1:]), binary.BigEndian.Uint16(pdu[3:])
	resp := []byte{fn, byte(2 * count)}
	for i := range count {
		v, ok := regs[fn][addr+i]
		if !ok {
			return []byte{fn | 0x80, 2} // illegal data address
		}
		resp = binary.BigEndian.AppendUint16(resp, v)
	}
	return resp
}

func (d *device) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}
