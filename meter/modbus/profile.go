package modbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Function codes this package reads with.
const (
	FuncHolding = 3
	FuncInput   = 4
)

// Fields a profile value may fill.
var fields = []string{
	"import", "export", "power",
	"voltage1", "voltage2", "voltage3",
	"current1", "current2", "current3",
	"power1", "power2", "power3",
	"serial",
}

// Value says where and how a meter keeps one quantity.
type Value struct {
	Field         string `toml:"field"`          // one of import, export, power, voltageN, currentN, powerN, serial
	Function      string `toml:"function"`       // "holding" or "input"
	Address       uint16 `toml:"address"`        // register address (0-based, as on the wire)
	Type          string `toml:"type"`           // int16 uint16 int32 uint32 int64 uint64 float32 float64
	Order         string `toml:"order"`          // abcd (default), cdab, badc, dcba
	Scale         int    `toml:"scale"`          // power of ten applied to the raw value
	Unit          string `toml:"unit"`           // kWh, Wh, kW, W, V, A, mA ("" for serial)
	ScaleRegister *int   `toml:"scale_register"` // SunSpec: address of an int16 scale factor (same function)
	Invert        bool   `toml:"invert"`         // negate (a meter counting export as positive power)
	Sentinel      bool   `toml:"sentinel"`       // the type's max (unsigned) or min (signed) means "not available"
}

// Profile describes one meter model.
type Profile struct {
	Name     string  `toml:"name"`      // short name for configs and --profile, e.g. "sdm630"
	Title    string  `toml:"title"`     // e.g. "Eastron SDM630"
	MaxBlock int     `toml:"max_block"` // most registers per request (default 125)
	MaxGap   int     `toml:"max_gap"`   // unused registers a block may span (default 0)
	Values   []Value `toml:"values"`
}

// LoadProfiles parses every *.toml file at the root of fsys (the embedded
// configs/meters: meters.FS) and returns the profiles sorted by name. Two
// profiles with one name are an error.
func LoadProfiles(fsys fs.FS) ([]Profile, error) {
	names, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, err
	}
	var ps []Profile
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("modbus: profile %s: %w", n, err)
		}
		p, err := ParseProfile(b)
		if err != nil {
			return nil, fmt.Errorf("modbus: profile %s: %w", n, err)
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(ps); i++ {
		if ps[i].Name == ps[i-1].Name {
			return nil, fmt.Errorf("modbus: profile name %q given twice", ps[i].Name)
		}
	}
	return ps, nil
}

// ErrUnknownProfile is returned by FindProfile.
var ErrUnknownProfile = errors.New("modbus: unknown profile")

// FindProfile returns the profile with the name from ps.
func FindProfile(ps []Profile, name string) (Profile, error) {
	var names []string
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownProfile, name, strings.Join(names, ", "))
}

// ParseProfile parses and validates a profile in TOML; unknown keys are errors.
func ParseProfile(b []byte) (Profile, error) {
	var p Profile
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&p)
	if err != nil {
		return p, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		return p, fmt.Errorf("unknown keys %v", und)
	}
	if p.MaxBlock == 0 {
		p.MaxBlock = 125
	}
	for i := range p.Values {
		if p.Values[i].Order == "" {
			p.Values[i].Order = "abcd"
		}
	}
	return p, p.Validate()
}

// Validate checks a profile.
func (p Profile) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name: missing"))
	}
	if p.MaxBlock < 1 || p.MaxBlock > 125 {
		errs = append(errs, fmt.Errorf("max_block: %d not in 1..125", p.MaxBlock))
	}
	if p.MaxGap < 0 {
		errs = append(errs, fmt.Errorf("max_gap: %d is negative", p.MaxGap))
	}
	seen := map[string]bool{}
	for i, v := range p.Values {
		at := fmt.Sprintf("values[%d] (%s)", i, v.Field)
		if !slices.Contains(fields, v.Field) {
			errs = append(errs, fmt.Errorf("%s: field: expected one of %s", at, strings.Join(fields, ", ")))
		}
		if seen[v.Field] {
			errs = append(errs, fmt.Errorf("%s: field given twice", at))
		}
		seen[v.Field] = true
		if v.Function != "holding" && v.Function != "input" {
			errs = append(errs, fmt.Errorf("%s: function: expected holding or input, got %q", at, v.Function))
		}
		if regs(v.Type) == 0 {
			errs = append(errs, fmt.Errorf("%s: type: unknown %q", at, v.Type))
		}
		if !slices.Contains([]string{"abcd", "cdab", "badc", "dcba"}, v.Order) {
			errs = append(errs, fmt.Errorf("%s: order: expected abcd, cdab, badc or dcba, got %q", at, v.Order))
		}
		want := map[string][]string{"import": {"kWh", "Wh"}, "export": {"kWh", "Wh"}, "serial": {""}}[v.Field]
		switch {
		case strings.HasPrefix(v.Field, "power"):
			want = []string{"kW", "W"}
		case strings.HasPrefix(v.Field, "voltage"):
			want = []string{"V", "mV"}
		case strings.HasPrefix(v.Field, "current"):
			want = []string{"A", "mA"}
		}
		if !slices.Contains(want, v.Unit) {
			errs = append(errs, fmt.Errorf("%s: unit: expected one of %q, got %q", at, want, v.Unit))
		}
		if v.Scale < -9 || v.Scale > 9 {
			errs = append(errs, fmt.Errorf("%s: scale: %d not in -9..9", at, v.Scale))
		}
		if v.Field == "serial" && strings.HasPrefix(v.Type, "float") {
			errs = append(errs, fmt.Errorf("%s: a serial cannot be a float", at))
		}
		if int(regs(v.Type)) > p.MaxBlock {
			errs = append(errs, fmt.Errorf("%s: %s needs more registers than max_block", at, v.Type))
		}
		if sr := v.ScaleRegister; sr != nil && (*sr < 0 || *sr > math.MaxUint16) {
			errs = append(errs, fmt.Errorf("%s: scale_register: %d out of range", at, *sr))
		}
	}
	if !seen["import"] {
		errs = append(errs, errors.New("values: no import counter"))
	}
	return errors.Join(errs...)
}

// regs is the number of 16-bit registers a type takes (0 if unknown).
func regs(typ string) uint16 {
	switch typ {
	case "int16", "uint16":
		return 1
	case "int32", "uint32", "float32":
		return 2
	case "int64", "uint64", "float64":
		return 4
	}
	return 0
}

// order puts register bytes b (as received, 2 per register) into big-endian
// order according to o.
func order(b []byte, o string) []byte {
	out := bytes.Clone(b)
	if o == "badc" || o == "dcba" {
		for i := 0; i+1 < len(out); i += 2 {
			out[i], out[i+1] = out[i+1], out[i]
		}
	}
	if o == "cdab" || o == "dcba" {
		// Reverse the order of the 16-bit words.
		n := len(out) / 2
		for i := range n / 2 {
			a, z := 2*i, 2*(n-1-i)
			out[a], out[a+1], out[z], out[z+1] = out[z], out[z+1], out[a], out[a+1]
		}
	}
	return out
}

// raw is a decoded register value before scaling.
type raw struct {
	isFloat bool
	i       int64 // integer value (uint64 above MaxInt64 is rejected)
	f       float64
	absent  bool
}

var errRange = errors.New("value out of range")

// decode reads a value of type v.Type from register bytes b (big-endian
// order already applied).
func decode(b []byte, v Value) (raw, error) {
	switch v.Type {
	case "int16":
		x := int16(binary.BigEndian.Uint16(b))
		return raw{i: int64(x), absent: v.Sentinel && x == math.MinInt16}, nil
	case "uint16":
		x := binary.BigEndian.Uint16(b)
		return raw{i: int64(x), absent: v.Sentinel && x == math.MaxUint16}, nil
	case "int32":
		x := int32(binary.BigEndian.Uint32(b))
		return raw{i: int64(x), absent: v.Sentinel && x == math.MinInt32}, nil
	case "uint32":
		x := binary.BigEndian.Uint32(b)
		return raw{i: int64(x), absent: v.Sentinel && x == math.MaxUint32}, nil
	case "int64":
		x := int64(binary.BigEndian.Uint64(b))
		return raw{i: x, absent: v.Sentinel && x == math.MinInt64}, nil
	case "uint64":
		x := binary.BigEndian.Uint64(b)
		if v.Sentinel && x == math.MaxUint64 {
			return raw{absent: true}, nil
		}
		if x > math.MaxInt64 {
			return raw{}, errRange
		}
		return raw{i: int64(x)}, nil
	case "float32":
		f := float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
		return raw{isFloat: true, f: f, absent: math.IsNaN(f)}, nil
	case "float64":
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		return raw{isFloat: true, f: f, absent: math.IsNaN(f)}, nil
	}
	return raw{}, fmt.Errorf("unknown type %q", v.Type)
}

// unitExp is the power of ten from a profile unit to the Reading's unit.
func unitExp(u string) int {
	switch u {
	case "kWh", "kW", "V", "A":
		return 3
	}
	return 0
}

// scaleInt returns r × 10^exp as an integer (truncating toward zero for
// integers, rounding to nearest for floats).
func scaleInt(r raw, exp int) (int64, error) {
	if r.isFloat {
		f := r.f * math.Pow(10, float64(exp))
		if math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1<<62 {
			return 0, errRange
		}
		return int64(math.Round(f)), nil
	}
	v := r.i
	for ; exp > 0; exp-- {
		if v > math.MaxInt64/10 || v < math.MinInt64/10 {
			return 0, errRange
		}
		v *= 10
	}
	for ; exp < 0 && v != 0; exp++ {
		v /= 10
	}
	return v, nil
}
