package modbus

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

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
	regs      map[byte]map[uint16]uint16 // function -> address -> value
	exception byte                       // answer every request with this exception (0 = none)
	silent    bool                       // read requests but never answer
	requests  int
	conns     []net.Conn
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

func (d *device) addr() string { return d.ln.Addr().String() }

func (d *device) close() {
	d.ln.Close()
	d.dropConns()
	d.wg.Wait()
}

// dropConns closes every open connection: the device restarts.
func (d *device) dropConns() {
	d.mu.Lock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
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

func (d *device) handle(c net.Conn) {
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
		resp := d.answer(pdu)
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
			out = append(out, byte(crc), byte(crc>>8))
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (d *device) answer(pdu []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests++
	if d.silent {
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
		v, ok := d.regs[fn][addr+i]
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
