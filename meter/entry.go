package meter

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// entryVersion is the first byte of every encoded journal entry.
const entryVersion = 1

// maxEntrySize bounds an encoded entry: version, 3 uvarints/varints of at most
// 10 bytes each for seq, time, import, export, power, flags, serial length,
// the hash, the serial, the phase count and 3×3 varints.
const maxEntrySize = 1 + 32 + 7*10 + MaxSerial + 1 + 9*10

// Entry is one journal entry: its sequence number (1 for the first entry), the
// SHA-256 of the previous entry's encoding (zero for entry 1) and the reading.
type Entry struct {
	Seq     uint64
	Prev    [32]byte
	Reading Reading
}

var (
	// ErrEncoding is returned by DecodeEntry for bytes that are not the
	// canonical encoding of an entry.
	ErrEncoding = errors.New("meter: bad journal entry encoding")
	// ErrTime is returned for a reading time outside what an entry can hold
	// (1678..2262, the range of int64 unix nanoseconds) or zero.
	ErrTime = errors.New("meter: reading time out of range")
)

var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

func timeOK(t time.Time) bool {
	return !t.IsZero() && t.After(minTime) && t.Before(maxTime)
}

// Encode returns the canonical binary encoding of e (version 1):
//
//	byte    version (1)
//	uvarint seq
//	[32]    prev
//	varint  time (unix nanoseconds)
//	varint  import, export (Wh), power (W)
//	uvarint flags
//	uvarint len(serial), serial bytes
//	byte    n phases (0..3; the last encoded phase is not all zero)
//	n × (varint millivolts, varint milliamps, varint watts)
//
// Varints are minimal (encoding/binary, zig-zag for signed values). It fails
// only for a time out of range or a serial longer than MaxSerial.
func (e Entry) Encode() ([]byte, error) {
	r := e.Reading
	if !timeOK(r.Time) {
		return nil, fmt.Errorf("%w: %v", ErrTime, r.Time)
	}
	if len(r.Serial) > MaxSerial {
		return nil, fmt.Errorf("meter: serial longer than %d bytes", MaxSerial)
	}
	b := make([]byte, 0, 96+len(r.Serial))
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, e.Seq)
	b = append(b, e.Prev[:]...)
	b = binary.AppendVarint(b, r.Time.UnixNano())
	b = binary.AppendVarint(b, int64(r.Import))
	b = binary.AppendVarint(b, int64(r.Export))
	b = binary.AppendVarint(b, int64(r.Power))
	b = binary.AppendUvarint(b, uint64(r.Flags))
	b = binary.AppendUvarint(b, uint64(len(r.Serial)))
	b = append(b, r.Serial...)
	n := len(r.Phases)
	for n > 0 && r.Phases[n-1] == (Phase{}) {
		n--
	}
	b = append(b, byte(n))
	for _, p := range r.Phases[:n] {
		b = binary.AppendVarint(b, p.Voltage)
		b = binary.AppendVarint(b, p.Current)
		b = binary.AppendVarint(b, int64(p.Power))
	}
	return b, nil
}

// Hash is the SHA-256 of an encoded entry.
func Hash(encoded []byte) [32]byte { return sha256.Sum256(encoded) }

// DecodeEntry decodes the canonical encoding of an entry. It rejects anything
// Encode would not produce: another version, non-minimal varints, a too long
// serial, more than 3 phases or a trailing all-zero phase, and trailing bytes.
// The decoded Time is in UTC.
func DecodeEntry(b []byte) (Entry, error) {
	d := decoder{b: b}
	var e Entry
	if len(b) > maxEntrySize {
		return e, fmt.Errorf("%w: %d bytes", ErrEncoding, len(b))
	}
	if v := d.byte(); v != entryVersion {
		d.fail("version")
	}
	e.Seq = d.uvarint()
	copy(e.Prev[:], d.bytes(32))
	ns := d.varint()
	e.Reading.Import = unit.Wh(d.varint())
	e.Reading.Export = unit.Wh(d.varint())
	e.Reading.Power = unit.W(d.varint())
	f := d.uvarint()
	if f > 1<<32-1 {
		d.fail("flags")
	}
	e.Reading.Flags = Flags(f)
	sl := d.uvarint()
	if sl > MaxSerial {
		d.fail("serial length")
	} else {
		e.Reading.Serial = string(d.bytes(int(sl)))
	}
	n := d.byte()
	if n > 3 {
		d.fail("phase count")
	}
	for i := 0; i < int(n) && d.err == nil; i++ {
		p := &e.Reading.Phases[i]
		p.Voltage = d.varint()
		p.Current = d.varint()
		p.Power = unit.W(d.varint())
	}
	if d.err == nil && n > 0 && e.Reading.Phases[n-1] == (Phase{}) {
		d.fail("trailing zero phase")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Entry{}, d.err
	}
	e.Reading.Time = time.Unix(0, ns).UTC()
	if !timeOK(e.Reading.Time) {
		return Entry{}, fmt.Errorf("%w: time", ErrEncoding)
	}
	return e, nil
}

// decoder reads from b and remembers the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrEncoding, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.fail("short")
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	// Minimal: the last byte of a multi-byte varint must not be zero.
	if n > 1 && d.b[n-1] == 0 {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}
