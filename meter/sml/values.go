package sml

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// Tags of the message bodies this package looks into.
const (
	TagOpenResponse    = 0x0101
	TagCloseResponse   = 0x0201
	TagGetListResponse = 0x0701
)

// DLMS unit codes used by SML meters.
const (
	UnitW  = 27
	UnitWh = 30
	UnitA  = 33
	UnitV  = 35
)

// ErrMissing is returned by Reading when the file has no import counter.
var ErrMissing = errors.New("sml: no import counter (1.8.0) in file")

// Entry is one value of a GetListResponse.
type Entry struct {
	OBIS   [6]byte // A B C D E F, e.g. 1 0 1 8 0 255 for 1-0:1.8.0*255
	Unit   uint8   // DLMS unit code; 0 if absent
	Scaler int8    // power of ten
	Value  Node    // Int, Uint, Bool, Octets or Absent
}

// Entries returns the values of every GetListResponse in f, in order, and
// the server id of the first one.
func (f File) Entries() (entries []Entry, server []byte, err error) {
	for _, m := range f.Messages {
		if m.Tag != TagGetListResponse {
			continue
		}
		b := m.Body
		if b.Kind != List || len(b.List) != 7 || b.List[4].Kind != List {
			return nil, nil, fmt.Errorf("%w: GetListResponse is not a list of 7 with a value list", ErrSyntax)
		}
		if server == nil && b.List[1].Kind == Octets {
			server = b.List[1].Bytes
		}
		for i, v := range b.List[4].List {
			if v.Kind != List || len(v.List) != 7 || v.List[0].Kind != Octets || len(v.List[0].Bytes) != 6 {
				return nil, nil, fmt.Errorf("%w: list entry %d is not a list of 7 with a 6-byte name", ErrSyntax, i)
			}
			e := Entry{Value: v.List[5]}
			copy(e.OBIS[:], v.List[0].Bytes)
			switch u := v.List[3]; u.Kind {
			case Absent:
			case Uint:
				if u.Uint > 255 {
					return nil, nil, fmt.Errorf("%w: entry %d: unit %d", ErrSyntax, i, u.Uint)
				}
				e.Unit = uint8(u.Uint)
			default:
				return nil, nil, fmt.Errorf("%w: entry %d: unit is not unsigned8", ErrSyntax, i)
			}
			switch s := v.List[4]; s.Kind {
			case Absent:
			case Int:
				if s.Int < -128 || s.Int > 127 {
					return nil, nil, fmt.Errorf("%w: entry %d: scaler %d", ErrSyntax, i, s.Int)
				}
				e.Scaler = int8(s.Int)
			default:
				return nil, nil, fmt.Errorf("%w: entry %d: scaler is not integer8", ErrSyntax, i)
			}
			entries = append(entries, e)
		}
	}
	return entries, server, nil
}

// Scaled returns value × 10^Scaler × 10^extra as an integer, truncated
// toward zero. extra is 3 to get milli-units.
func (e Entry) Scaled(extra int) (int64, error) {
	var v int64
	switch e.Value.Kind {
	case Int:
		v = e.Value.Int
	case Uint:
		if e.Value.Uint > 1<<63-1 {
			return 0, fmt.Errorf("sml: value %d out of range", e.Value.Uint)
		}
		v = int64(e.Value.Uint)
	default:
		return 0, fmt.Errorf("sml: %s: value is not a number", e.Name())
	}
	exp := int(e.Scaler) + extra
	for ; exp > 0; exp-- {
		if v > (1<<63-1)/10 || v < -(1<<63-1)/10 {
			return 0, fmt.Errorf("sml: %s: value out of range", e.Name())
		}
		v *= 10
	}
	for ; exp < 0 && v != 0; exp++ {
		v /= 10
	}
	return v, nil
}

// Name is the OBIS code as text, e.g. "1-0:1.8.0*255".
func (e Entry) Name() string {
	o := e.OBIS
	return fmt.Sprintf("%d-%d:%d.%d.%d*%d", o[0], o[1], o[2], o[3], o[4], o[5])
}

func (e Entry) is(c, d, ee byte) bool {
	return e.OBIS[0] == 1 && e.OBIS[2] == c && e.OBIS[3] == d && e.OBIS[4] == ee
}

// Reading maps the file's values to a meter reading (see the package doc).
// Serial is 1-0:96.1.0 (else 1-0:0.0.0, 1-0:0.0.9, the server id), as text when it
// is printable, else in hex; cut to meter.MaxSerial. Time is left zero: SML
// meters count seconds since power-up, not wall time.
func (f File) Reading() (meter.Reading, error) {
	var r meter.Reading
	entries, server, err := f.Entries()
	if err != nil {
		return r, err
	}
	get := func(c, d, e byte, unitCode uint8, extra int) (int64, bool, error) {
		for _, en := range entries {
			if !en.is(c, d, e) {
				continue
			}
			if en.Unit != unitCode {
				return 0, false, fmt.Errorf("sml: %s: unit %d, want %d", en.Name(), en.Unit, unitCode)
			}
			v, err := en.Scaled(extra)
			return v, err == nil, err
		}
		return 0, false, nil
	}
	counter := func(c byte) (int64, bool, error) {
		if v, ok, err := get(c, 8, 0, UnitWh, 0); ok || err != nil {
			return v, ok, err
		}
		var sum int64
		var any bool
		for t := byte(1); t <= 9; t++ {
			v, ok, err := get(c, 8, t, UnitWh, 0)
			if err != nil {
				return 0, false, err
			}
			if ok {
				if v < 0 || sum > 1<<62 || v > 1<<62 {
					return 0, false, fmt.Errorf("sml: counter %d.8.%d out of range", c, t)
				}
				sum += v
				any = true
			}
		}
		return sum, any, nil
	}
	imp, ok, err := counter(1)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, ErrMissing
	}
	exp, okE, err := counter(2)
	if err != nil {
		return r, err
	}
	r.Import, r.Export = unit.Wh(imp), unit.Wh(exp)
	if !okE {
		r.Flags |= meter.NoExport
	}
	p, okP, err := get(16, 7, 0, UnitW, 0)
	if err != nil {
		return r, err
	}
	r.Power = unit.W(p)
	if !okP {
		r.Flags |= meter.NoPower
	}
	for k, c := range [3][3]byte{{36, 32, 31}, {56, 52, 51}, {76, 72, 71}} {
		pw, ok1, err := get(c[0], 7, 0, UnitW, 0)
		if err != nil {
			return r, err
		}
		v, ok2, err := get(c[1], 7, 0, UnitV, 3)
		if err != nil {
			return r, err
		}
		i, ok3, err := get(c[2], 7, 0, UnitA, 3)
		if err != nil {
			return r, err
		}
		r.Phases[k] = meter.Phase{Voltage: v, Current: i, Power: unit.W(pw)}
		if ok1 || ok2 || ok3 {
			r.Flags |= meter.PhasesValid
		}
	}
	r.Serial = serial(entries, server)
	return r, nil
}

func serial(entries []Entry, server []byte) string {
	id := server
	for _, want := range [][3]byte{{96, 1, 0}, {0, 0, 0}, {0, 0, 9}} {
		found := false
		for _, e := range entries {
			if e.is(want[0], want[1], want[2]) && e.Value.Kind == Octets && len(e.Value.Bytes) > 0 {
				id, found = e.Value.Bytes, true
				break
			}
		}
		if found {
			break
		}
	}
	s := string(id)
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			s = hex.EncodeToString(id)
			break
		}
	}
	if len(s) > meter.MaxSerial {
		s = s[:meter.MaxSerial]
	}
	return s
}
