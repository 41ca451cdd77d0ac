package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/configs/meters"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// want are the values every profile test device holds, in Reading units.
var want = map[string]int64{
	"import": 1_234_000, "export": 56_000, "power": -1500,
	"voltage1": 230_100, "voltage2": 229_900, "voltage3": 231_000,
	"current1": 6500, "current2": 1250, "current3": 10,
	"power1": -500, "power2": -600, "power3": -400,
	"serial": 12_345_678,
}

// sunspecSF are the scale factors the test device publishes for SunSpec
// profiles, by the unit of the value they scale.
var sunspecSF = map[string]int16{"A": -2, "V": -1, "W": 0, "Wh": 1}

// load puts p's values (from want) into d's registers, encoded as the
// profile says; it is the inverse of Meter.Read.
func load(t testing.TB, d *device, p Profile) {
	t.Helper()
	loadInto(t, d.set, p)
}

// loadUnit loads p into the registers of one unit of d.
func loadUnit(t testing.TB, d *device, unit byte, p Profile) {
	t.Helper()
	loadInto(t, func(fn byte, addr uint16, b []byte) { d.setUnit(unit, fn, addr, b) }, p)
}

// loadInto puts p's values, encoded as the profile says, through set.
func loadInto(t testing.TB, set func(fn byte, addr uint16, b []byte), p Profile) {
	t.Helper()
	// A profile with max_gap promises that the registers between its values
	// exist (as in a SunSpec model): the device holds zeros there.
	for _, b := range p.Plan() {
		set(b.function, b.start, make([]byte, 2*b.count))
	}
	for _, v := range p.Values {
		fn := funcCode(v.Function)
		exp := v.Scale + unitExp(v.Unit)
		if v.Field == "serial" {
			exp = 0
		}
		if v.ScaleRegister != nil {
			sf := sunspecSF[v.Unit]
			exp += int(sf)
			set(fn, uint16(*v.ScaleRegister), binary.BigEndian.AppendUint16(nil, uint16(sf)))
		}
		x := want[v.Field]
		if v.Invert {
			x = -x
		}
		var b []byte
		if strings.HasPrefix(v.Type, "float") {
			f := float64(x) / math.Pow(10, float64(exp))
			if v.Type == "float32" {
				b = binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(f)))
			} else {
				b = binary.BigEndian.AppendUint64(nil, math.Float64bits(f))
			}
		} else {
			for ; exp > 0; exp-- {
				if x%10 != 0 {
					t.Fatalf("%s %s: %d not representable", p.Name, v.Field, want[v.Field])
				}
				x /= 10
			}
			for ; exp < 0; exp++ {
				x *= 10
			}
			b = binary.BigEndian.AppendUint64(nil, uint64(x))
			b = b[8-2*regs(v.Type):]
		}
		set(fn, v.Address, order(b, v.Order))
	}
}

// expect is the Reading Meter.Read should return for p on a loaded device.
func expect(p Profile) meter.Reading {
	r := meter.Reading{Flags: meter.NoExport | meter.NoPower}
	for _, v := range p.Values {
		x := want[v.Field]
		switch v.Field {
		case "import":
			r.Import = unit.Wh(x)
		case "export":
			r.Export = unit.Wh(x)
			r.Flags &^= meter.NoExport
		case "power":
			r.Power = unit.W(x)
			r.Flags &^= meter.NoPower
		case "serial":
			r.Serial = "12345678"
		default:
			i := int(v.Field[len(v.Field)-1] - '1')
			r.Flags |= meter.PhasesValid
			switch v.Field[:len(v.Field)-1] {
			case "voltage":
				r.Phases[i].Voltage = x
			case "current":
				r.Phases[i].Current = x
			case "power":
				r.Phases[i].Power = unit.W(x)
			}
		}
	}
	return r
}

// TestEveryProfile reads every embedded profile from a device over Modbus TCP
// and over RTU-over-TCP.
func TestEveryProfile(t *testing.T) {
	ps, err := LoadProfiles(meters.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 11 {
		t.Fatalf("%d profiles, want at least 11", len(ps))
	}
	for _, p := range ps {
		for _, f := range []Framing{TCP, RTUOverTCP} {
			t.Run(p.Name+"/"+[]string{"tcp", "rtuovertcp"}[f], func(t *testing.T) {
				d := newDevice(t, f)
				load(t, d, p)
				c := NewClient(d.addr(), f)
				defer c.Close()
				m := NewMeter(c, 1, p)
				got, err := m.Read(t.Context())
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if diff := cmp.Diff(expect(p), got); diff != "" {
					t.Errorf("Read (-want +got):\n%s", diff)
				}
				if n := d.count(); n != m.Requests() {
					t.Errorf("device saw %d requests, plan has %d", n, m.Requests())
				}
			})
		}
	}
}

func TestPlanBlocks(t *testing.T) {
	p, err := testProfile("sdm630")
	if err != nil {
		t.Fatal(err)
	}
	got := p.Plan()
	wantPlan := []block{
		{FuncHolding, 0xFC00, 2},
		{FuncInput, 0x00, 18},
		{FuncInput, 0x34, 2},
		{FuncInput, 0x48, 4},
	}
	if diff := cmp.Diff(wantPlan, got, cmp.AllowUnexported(block{})); diff != "" {
		t.Errorf("sdm630 plan (-want +got):\n%s", diff)
	}
	s, _ := testProfile("sunspec-203")
	if n := len(s.Plan()); n != 1 {
		t.Errorf("sunspec-203 plan has %d blocks, want 1 (gaps of <= 20 registers)", n)
	}
	p.MaxBlock = 4
	for _, b := range p.Plan() {
		if b.count > 4 {
			t.Errorf("block %+v larger than max_block 4", b)
		}
	}
}

// TestKnownRegisters decodes register images computed by hand.
func TestKnownRegisters(t *testing.T) {
	tests := []struct {
		v    Value
		regs []byte
		want int64
	}{
		{Value{Type: "float32", Order: "abcd", Unit: "kWh"}, []byte{0x46, 0x40, 0xe6, 0xb6}, 12_345_678}, // 12345.677734375 kWh
		{Value{Type: "int32", Order: "cdab", Unit: "kWh", Scale: -1}, []byte{0xe2, 0x40, 0x00, 0x01}, 12_345_600},
		{Value{Type: "int32", Order: "abcd", Unit: "W", Scale: -2}, []byte{0xff, 0xff, 0xfc, 0x18}, -10},
		{Value{Type: "uint64", Order: "abcd", Unit: "kWh", Scale: -2}, []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}, 123_450},
		{Value{Type: "uint16", Order: "badc", Unit: "V"}, []byte{0xe6, 0x00}, 230_000},
		{Value{Type: "uint32", Order: "dcba", Unit: "Wh"}, []byte{0x04, 0x03, 0x02, 0x01}, 0x01020304},
	}
	for _, tc := range tests {
		r, err := decode(order(tc.regs, tc.v.Order), tc.v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := scaleInt(r, tc.v.Scale+unitExp(tc.v.Unit))
		if err != nil || got != tc.want {
			t.Errorf("%+v % x = %d, %v; want %d", tc.v, tc.regs, got, err, tc.want)
		}
	}
}

func TestSentinels(t *testing.T) {
	p, _ := testProfile("abb-b23")
	d := newDevice(t, TCP)
	load(t, d, p)
	// Export not available: all ones.
	d.set(FuncHolding, 0x5004, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	c := NewClient(d.addr(), TCP)
	defer c.Close()
	r, err := NewMeter(c, 1, p).Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Export != 0 || r.Flags&meter.NoExport == 0 {
		t.Errorf("Read with export n/a = %+v, want export 0 and NoExport", r)
	}
}

func TestException(t *testing.T) {
	p, _ := testProfile("sdm120")
	d := newDevice(t, TCP)
	load(t, d, p)
	d.mu.Lock()
	d.exception = 2
	d.mu.Unlock()
	c := NewClient(d.addr(), TCP)
	defer c.Close()
	_, err := NewMeter(c, 1, p).Read(t.Context())
	var exc *ExceptionError
	if !errors.As(err, &exc) || exc.Code != 2 {
		t.Fatalf("Read err = %v, want exception 2", err)
	}
	if n := d.count(); n != 1 {
		t.Errorf("device saw %d requests after an exception, want 1 (no retry)", n)
	}
}

func TestTimeout(t *testing.T) {
	p, _ := testProfile("sdm120")
	d := newDevice(t, RTUOverTCP)
	load(t, d, p)
	d.mu.Lock()
	d.silent = true
	d.mu.Unlock()
	c := NewClient(d.addr(), RTUOverTCP)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := NewMeter(c, 1, p).Read(ctx)
	if err == nil {
		t.Fatal("Read from a silent device: err = nil")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Read took %v, want about the 150 ms deadline", el)
	}
	// The device answers again: the client recovers.
	d.mu.Lock()
	d.silent = false
	d.mu.Unlock()
	if _, err := NewMeter(c, 1, p).Read(t.Context()); err != nil {
		t.Errorf("Read after the device answers again: %v", err)
	}
}

// TestDeviceRestart drops the connection between reads and in the middle of
// a poll; the client reconnects and retries once.
func TestDeviceRestart(t *testing.T) {
	p, _ := testProfile("sdm630")
	d := newDevice(t, TCP)
	load(t, d, p)
	c := NewClient(d.addr(), TCP)
	defer c.Close()
	m := NewMeter(c, 1, p)
	for i := range 5 {
		if _, err := m.Read(t.Context()); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		d.dropConns()
	}
}

func TestParseProfileErrors(t *testing.T) {
	_, err := ParseProfile([]byte(`
name = "x"
colour = "red"
[[values]]
field = "import"
function = "input"
address = 1
type = "float32"
unit = "kWh"
`))
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown key: err = %v, want it named", err)
	}
	_, err = ParseProfile([]byte(`
name = "x"
[[values]]
field = "imprt"
function = "coil"
address = 1
type = "float16"
order = "xyzw"
unit = "MWh"
`))
	for _, w := range []string{"field", "function", "type", "order", "unit", "no import"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("bad profile: err = %v, want it to mention %q", err, w)
		}
	}
	if _, err := testProfile("sdm999"); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("testProfile(sdm999) err = %v", err)
	}
}

// BenchmarkRead compares block reads with one request per value (as mbmd
// does) for an SDM630 over Modbus TCP on loopback.
func BenchmarkRead(b *testing.B) {
	p, _ := testProfile("sdm630")
	single := p
	single.MaxBlock = 2 // every value its own request
	for _, bc := range []struct {
		name string
		p    Profile
	}{{"blocks", p}, {"one-per-value", single}} {
		b.Run(bc.name, func(b *testing.B) {
			d := newDevice(b, TCP)
			load(b, d, bc.p)
			c := NewClient(d.addr(), TCP)
			defer c.Close()
			m := NewMeter(c, 1, bc.p)
			for b.Loop() {
				if _, err := m.Read(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.Requests()), "requests/read")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}
