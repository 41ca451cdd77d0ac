package modbus

import (
	"testing"

	"github.com/gridmesh/gridmesh/configs/meters"
)

// FuzzResponse fuzzes the response checks and value decoding: no input may
// panic, and accepted data has exactly two bytes per register.
func FuzzResponse(f *testing.F) {
	f.Add([]byte{4, 4, 0x46, 0x40, 0xe6, 0xb6}, uint8(4), uint16(2))
	f.Add([]byte{0x84, 2}, uint8(4), uint16(2))
	f.Add([]byte{3, 2, 0, 1}, uint8(3), uint16(1))
	f.Fuzz(func(t *testing.T, resp []byte, fn uint8, count uint16) {
		count = count%125 + 1
		data, err := checkPDU(resp, fn, count)
		if err != nil {
			return
		}
		if len(data) != 2*int(count) {
			t.Fatalf("accepted %d bytes for %d registers", len(data), count)
		}
		for _, typ := range []string{"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"} {
			if int(regs(typ)) > int(count) {
				continue
			}
			for _, o := range []string{"abcd", "cdab", "badc", "dcba"} {
				v := Value{Type: typ, Order: o, Sentinel: true}
				r, err := decode(order(data[:2*regs(typ)], o), v)
				if err == nil {
					_, _ = scaleInt(r, 3)
					_, _ = scaleInt(r, -3)
				}
			}
		}
	})
}

// FuzzParseProfile: profiles are data files; no file may panic the parser,
// and an accepted profile plans blocks within its limits.
func FuzzParseProfile(f *testing.F) {
	for _, name := range []string{"sdm630.toml", "sunspec-203.toml", "cg-em24.toml"} {
		b, err := meters.FS.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProfile(b)
		if err != nil {
			return
		}
		for _, blk := range p.Plan() {
			if blk.count == 0 || int(blk.count) > p.MaxBlock {
				t.Fatalf("block %+v outside 1..%d", blk, p.MaxBlock)
			}
		}
	})
}

// FuzzRTUFrame fuzzes the RTU answer checks: no input may panic, and an
// accepted frame carries a PDU of the length its header announces.
func FuzzRTUFrame(f *testing.F) {
	f.Add(rtuFrame(1, []byte{4, 4, 0x46, 0x40, 0xe6, 0xb6}), uint8(1))
	f.Add(rtuFrame(7, []byte{0x84, 2}), uint8(7))
	f.Add([]byte{1, 4, 2, 0, 1, 0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, frame []byte, unit uint8) {
		if len(frame) >= 3 {
			if n := rtuLen(frame[1], frame[2]); n < 5 || n > 260 {
				t.Fatalf("rtuLen(%x, %x) = %d", frame[1], frame[2], n)
			}
		}
		pdu, err := checkRTU(frame, unit)
		if err != nil {
			return
		}
		if len(pdu) != len(frame)-3 || frame[0] != unit {
			t.Fatalf("accepted frame % x for unit %d as pdu % x", frame, unit, pdu)
		}
		if _, err := checkPDU(pdu, pdu[0]&0x7f, 1); err == nil && len(pdu) != 4 {
			t.Fatalf("one register accepted from pdu % x", pdu)
		}
	})
}
