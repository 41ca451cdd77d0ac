package modbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// block is one read request.
type block struct {
	function byte
	start    uint16
	count    uint16
}

// Plan returns the requests needed to read every value of p (and its scale
// registers): registers sorted by function and address, merged while a block
// stays within MaxBlock registers and the gap between two reads is at most
// MaxGap registers.
func (p Profile) Plan() []block {
	type span struct {
		fn         byte
		start, end int // end exclusive
	}
	var spans []span
	for _, v := range p.Values {
		fn := funcCode(v.Function)
		spans = append(spans, span{fn, int(v.Address), int(v.Address) + int(regs(v.Type))})
		if v.ScaleRegister != nil {
			spans = append(spans, span{fn, *v.ScaleRegister, *v.ScaleRegister + 1})
		}
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.fn != b.fn {
			return int(a.fn) - int(b.fn)
		}
		return a.start - b.start
	})
	var out []block
	var cur *span
	flush := func() {
		if cur != nil {
			out = append(out, block{cur.fn, uint16(cur.start), uint16(cur.end - cur.start)})
		}
	}
	for i := range spans {
		s := spans[i]
		if cur != nil && s.fn == cur.fn && s.start <= cur.end+p.MaxGap && max(s.end, cur.end)-cur.start <= p.MaxBlock {
			cur.end = max(cur.end, s.end)
			continue
		}
		flush()
		cur = &s
	}
	flush()
	return out
}

func funcCode(f string) byte {
	if f == "input" {
		return FuncInput
	}
	return FuncHolding
}

// Meter reads one device with a profile through a Client. It implements
// meter.Reader.
type Meter struct {
	c       Conn
	unit    byte
	profile Profile
	plan    []block
}

// NewMeter returns a reader for the device unit reached through c (a
// Client or a Line), described by p (which must be valid: see
// Profile.Validate, LoadProfiles).
func NewMeter(c Conn, unitID byte, p Profile) *Meter {
	return &Meter{c: c, unit: unitID, profile: p, plan: p.Plan()}
}

// Requests is the number of Modbus requests one Read makes.
func (m *Meter) Requests() int { return len(m.plan) }

// Read reads every block of the plan and decodes the values. The reading's
// Time is left zero (the sampler stamps it). Missing values (sentinels, NaN)
// leave their field zero: a missing import counter is an error, a missing
// power sets NoPower, a missing export NoExport.
func (m *Meter) Read(ctx context.Context) (meter.Reading, error) {
	var r meter.Reading
	type key struct {
		fn   byte
		addr uint16
	}
	data := map[key][]byte{} // register bytes by (function, address)
	for _, b := range m.plan {
		buf, err := m.c.ReadRegisters(ctx, m.unit, b.function, b.start, b.count)
		if err != nil {
			return r, err
		}
		for i := range b.count {
			data[key{b.function, b.start + i}] = buf[2*i : 2*i+2]
		}
	}
	regBytes := func(fn byte, addr uint16, n uint16) []byte {
		var out []byte
		for i := range n {
			out = append(out, data[key{fn, addr + i}]...)
		}
		return out
	}
	have := map[string]bool{}
	vals := map[string]int64{}
	for _, v := range m.profile.Values {
		fn := funcCode(v.Function)
		raw, err := decode(order(regBytes(fn, v.Address, regs(v.Type)), v.Order), v)
		if err != nil {
			return r, fmt.Errorf("modbus: %s: %s: %w", m.profile.Name, v.Field, err)
		}
		if raw.absent {
			continue
		}
		exp := v.Scale + unitExp(v.Unit)
		if v.ScaleRegister != nil {
			sf := int16(uint16(regBytes(fn, uint16(*v.ScaleRegister), 1)[0])<<8 | uint16(regBytes(fn, uint16(*v.ScaleRegister), 1)[1]))
			if sf == -32768 { // SunSpec: not implemented
				continue
			}
			if sf < -10 || sf > 10 {
				return r, fmt.Errorf("modbus: %s: %s: scale factor %d out of range", m.profile.Name, v.Field, sf)
			}
			exp += int(sf)
		}
		if v.Field == "serial" {
			exp = 0
		}
		x, err := scaleInt(raw, exp)
		if err != nil {
			return r, fmt.Errorf("modbus: %s: %s: %w", m.profile.Name, v.Field, err)
		}
		if v.Invert {
			x = -x
		}
		have[v.Field], vals[v.Field] = true, x
	}
	if !have["import"] {
		return r, fmt.Errorf("modbus: %s: %w", m.profile.Name, ErrNoImport)
	}
	if vals["import"] < 0 || vals["export"] < 0 {
		return r, fmt.Errorf("modbus: %s: negative counter", m.profile.Name)
	}
	r.Import, r.Export, r.Power = unit.Wh(vals["import"]), unit.Wh(vals["export"]), unit.W(vals["power"])
	if !have["export"] {
		r.Flags |= meter.NoExport
	}
	if !have["power"] {
		r.Flags |= meter.NoPower
	}
	for i := range 3 {
		n := strconv.Itoa(i + 1)
		r.Phases[i] = meter.Phase{Voltage: vals["voltage"+n], Current: vals["current"+n], Power: unit.W(vals["power"+n])}
		if have["voltage"+n] || have["current"+n] || have["power"+n] {
			r.Flags |= meter.PhasesValid
		}
	}
	if have["serial"] {
		r.Serial = strconv.FormatInt(vals["serial"], 10)
	}
	return r, nil
}

// ErrNoImport is returned when the device reports no import counter.
var ErrNoImport = errors.New("no import counter")
