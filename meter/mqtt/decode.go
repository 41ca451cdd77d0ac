package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// MaxPayload is the largest payload decoded; longer ones are bad.
const MaxPayload = 64 << 10

// ErrPayload is wrapped by every decoding error.
var ErrPayload = errors.New("mqtt: bad payload")

// Update is what one message says. Nil fields were not in the message.
type Update struct {
	Import, Export *unit.Wh
	Power          *unit.W
	Phases         *[3]meter.Phase // voltage, current and power per phase
	Serial         string          // the device's id when the payload names it
}

func (u Update) empty() bool {
	return u.Import == nil && u.Export == nil && u.Power == nil
}

func badf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPayload}, a...)...)
}

// parseJSON decodes one JSON object strictly: at most MaxPayload bytes,
// numbers kept as text, nothing after the object.
func parseJSON(b []byte) (map[string]any, error) {
	if len(b) > MaxPayload {
		return nil, badf("%d bytes, limit %d", len(b), MaxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badf("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badf("data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badf("not a JSON object")
	}
	return obj, nil
}

// lookup follows a dot-separated path of object keys and array indices.
func lookup(v any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[key]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// number converts a JSON number, or a string holding one, to an integer
// in units of 10^-shift of the value's unit (shift 3: kWh -> Wh), truncated
// toward zero.
func number(v any, shift int) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, badf("%v is not a number", v)
	}
	n, err := scaleDecimal(s, shift)
	if err != nil {
		return 0, badf("%q: %v", s, err)
	}
	return n, nil
}

// sum is number for a value or an array of values (Tasmota's multi-channel
// devices give Power as [p1, p2, ...]), added up.
func sum(v any, shift int) (int64, error) {
	arr, ok := v.([]any)
	if !ok {
		return number(v, shift)
	}
	if len(arr) == 0 || len(arr) > 16 {
		return 0, badf("array of %d values", len(arr))
	}
	var total int64
	for _, x := range arr {
		n, err := number(x, shift)
		if err != nil {
			return 0, err
		}
		t := total + n
		if (n > 0 && t < total) || (n < 0 && t > total) {
			return 0, badf("sum overflows")
		}
		total = t
	}
	return total, nil
}

var (
	errSyntax   = errors.New("not a decimal number")
	errOverflow = errors.New("out of range")
)

// scaleDecimal returns the decimal s (JSON number syntax: -12.5, 1e3)
// times 10^shift, truncated toward zero.
func scaleDecimal(s string, shift int) (int64, error) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e < -1000 || e > 1000 {
			return 0, errSyntax
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, errSyntax
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	e := exp + shift - len(frac)
	if digits == "" {
		return 0, nil
	}
	if e < 0 {
		if -e >= len(digits) {
			return 0, nil
		}
		digits = digits[:len(digits)+e]
	} else {
		if len(digits)+e > 19 {
			return 0, errOverflow
		}
		digits += strings.Repeat("0", e)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, errOverflow
	}
	if neg {
		n = -n
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// energy reads a counter: a non-negative number in kWh (shift 3) or Wh (0).
func energy(v any, shift int) (*unit.Wh, error) {
	n, err := sum(v, shift)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, badf("negative energy counter %d Wh", n)
	}
	e := unit.Wh(n)
	return &e, nil
}

func power(v any, shift int) (*unit.W, error) {
	n, err := sum(v, shift)
	if err != nil {
		return nil, err
	}
	p := unit.W(n)
	return &p, nil
}

// DecodeTasmota decodes a Tasmota tele/<topic>/SENSOR payload.
//
// Energy monitoring devices send {"ENERGY":{"Total":kWh,"Power":W,...}}:
// import is ENERGY.Import if present, else ENERGY.Total; export is
// ENERGY.Export if present, else ENERGY.ExportActive; power is ENERGY.Power.
// Each may be an array (one value per channel or phase), which is added up.
//
// Smart meter interface scripts (SML) send one object named by the script,
// e.g. {"SML":{"Total_in":kWh,"Total_out":kWh,"Power_curr":W,"Meter_number":"..."}},
// with the names of Tasmota's documented meter scripts; for other names use
// the generic JSON format with paths.
func DecodeTasmota(b []byte) (Update, error) {
	obj, err := parseJSON(b)
	if err != nil {
		return Update{}, err
	}
	var u Update
	if e, ok := obj["ENERGY"]; ok {
		en, ok := e.(map[string]any)
		if !ok {
			return Update{}, badf("ENERGY is not an object")
		}
		for _, f := range []struct {
			keys []string
			set  func(v any) error
		}{
			{[]string{"Import", "Total"}, func(v any) (err error) { u.Import, err = energy(v, 3); return }},
			{[]string{"Export", "ExportActive"}, func(v any) (err error) { u.Export, err = energy(v, 3); return }},
			{[]string{"Power"}, func(v any) (err error) { u.Power, err = power(v, 0); return }},
		} {
			for _, k := range f.keys {
				if v, ok := en[k]; ok {
					if err := f.set(v); err != nil {
						return Update{}, fmt.Errorf("ENERGY.%s: %w", k, err)
					}
					break
				}
			}
		}
		if u.Import == nil {
			return Update{}, badf("ENERGY without Total")
		}
		return u, nil
	}
	var found string
	for name, v := range obj {
		sub, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if _, ok := sub["Total_in"]; !ok {
			continue
		}
		if found != "" {
			return Update{}, badf("two SML objects with Total_in (%s, %s): use the json format with paths", min(found, name), max(found, name))
		}
		found = name
		if u.Import, err = energy(sub["Total_in"], 3); err != nil {
			return Update{}, fmt.Errorf("%s.Total_in: %w", name, err)
		}
		if x, ok := sub["Total_out"]; ok {
			if u.Export, err = energy(x, 3); err != nil {
				return Update{}, fmt.Errorf("%s.Total_out: %w", name, err)
			}
		}
		if x, ok := sub["Power_curr"]; ok {
			if u.Power, err = power(x, 0); err != nil {
				return Update{}, fmt.Errorf("%s.Power_curr: %w", name, err)
			}
		}
		for _, k := range []string{"Meter_number", "Meter_id"} {
			if s, ok := sub[k].(string); ok && len(s) <= meter.MaxSerial {
				u.Serial = s
			}
		}
	}
	if found == "" {
		return Update{}, badf("neither ENERGY nor an SML object with Total_in")
	}
	return u, nil
}

// DecodeShelly decodes a Shelly Gen2 message (Pro 3EM, 3EM-63): a JSON-RPC
// NotifyStatus or NotifyFullStatus on <prefix>/events/rpc whose params hold
// "em:0" (total_act_power and a_/b_/c_ act_power, voltage, current) and/or
// "emdata:0" (total_act and total_act_ret in Wh), or the bare status object
// on <prefix>/status/em:0 or <prefix>/status/emdata:0 (topic says which).
// Other notifications (NotifyEvent) give an empty Update and no error.
func DecodeShelly(topic string, b []byte) (Update, error) {
	obj, err := parseJSON(b)
	if err != nil {
		return Update{}, err
	}
	var em, emdata any
	switch {
	case strings.HasSuffix(topic, "/status/em:0"):
		em = obj
	case strings.HasSuffix(topic, "/status/emdata:0"):
		emdata = obj
	default:
		method, _ := obj["method"].(string)
		if method == "" {
			return Update{}, badf("neither a status object nor an RPC notification")
		}
		if method != "NotifyStatus" && method != "NotifyFullStatus" {
			return Update{}, nil
		}
		params, ok := obj["params"].(map[string]any)
		if !ok {
			return Update{}, badf("%s without params object", method)
		}
		em, emdata = params["em:0"], params["emdata:0"]
	}
	var u Update
	if src, ok := obj["src"].(string); ok && len(src) <= meter.MaxSerial {
		u.Serial = src
	}
	if emdata != nil {
		d, ok := emdata.(map[string]any)
		if !ok {
			return Update{}, badf("emdata:0 is not an object")
		}
		// NotifyStatus carries only what changed: either counter may be missing.
		if v, ok := d["total_act"]; ok {
			if u.Import, err = energy(v, 0); err != nil {
				return Update{}, fmt.Errorf("emdata:0.total_act: %w", err)
			}
		}
		if v, ok := d["total_act_ret"]; ok {
			if u.Export, err = energy(v, 0); err != nil {
				return Update{}, fmt.Errorf("emdata:0.total_act_ret: %w", err)
			}
		}
	}
	if em != nil {
		d, ok := em.(map[string]any)
		if !ok {
			return Update{}, badf("em:0 is not an object")
		}
		if v, ok := d["total_act_power"]; ok {
			if u.Power, err = power(v, 0); err != nil {
				return Update{}, fmt.Errorf("em:0.total_act_power: %w", err)
			}
		}
		var ph [3]meter.Phase
		have := false
		for i, p := range []string{"a", "b", "c"} {
			for _, f := range []struct {
				key   string
				shift int
				dst   *int64
			}{
				{p + "_voltage", 3, &ph[i].Voltage},
				{p + "_current", 3, &ph[i].Current},
				{p + "_act_power", 0, (*int64)(&ph[i].Power)},
			} {
				v, ok := d[f.key]
				if !ok || v == nil {
					continue
				}
				n, err := number(v, f.shift)
				if err != nil {
					return Update{}, fmt.Errorf("em:0.%s: %w", f.key, err)
				}
				*f.dst, have = n, true
			}
		}
		if have {
			u.Phases = &ph
		}
	}
	return u, nil
}

// Generic says where a generic JSON payload keeps its values.
type Generic struct {
	ImportPath string // dot-separated path to the import counter; required
	ExportPath string // optional
	PowerPath  string // optional; + import, − export
	EnergyUnit string // "Wh" or "kWh"
	PowerUnit  string // "W" or "kW"; "" = "W"
}

func (g Generic) check() error {
	if g.ImportPath == "" {
		return errors.New("no import path")
	}
	if _, err := unitShift(g.EnergyUnit, "Wh", "kWh"); err != nil {
		return fmt.Errorf("energy unit: %w", err)
	}
	if g.PowerUnit != "" {
		if _, err := unitShift(g.PowerUnit, "W", "kW"); err != nil {
			return fmt.Errorf("power unit: %w", err)
		}
	}
	return nil
}

func unitShift(u, base, kilo string) (int, error) {
	switch u {
	case base:
		return 0, nil
	case kilo:
		return 3, nil
	}
	return 0, fmt.Errorf("%q, want %s or %s", u, base, kilo)
}

// Decode decodes a generic JSON payload. Values are JSON numbers or
// strings holding a decimal number. A path that is missing is an error for
// the import counter and leaves the other values unset.
func (g Generic) Decode(b []byte) (Update, error) {
	if err := g.check(); err != nil {
		return Update{}, fmt.Errorf("mqtt: generic format: %w", err)
	}
	obj, err := parseJSON(b)
	if err != nil {
		return Update{}, err
	}
	es, _ := unitShift(g.EnergyUnit, "Wh", "kWh")
	ps := 0
	if g.PowerUnit == "kW" {
		ps = 3
	}
	var u Update
	v, ok := lookup(obj, g.ImportPath)
	if !ok {
		return Update{}, badf("no %s", g.ImportPath)
	}
	if u.Import, err = energy(v, es); err != nil {
		return Update{}, fmt.Errorf("%s: %w", g.ImportPath, err)
	}
	if g.ExportPath != "" {
		if v, ok := lookup(obj, g.ExportPath); ok {
			if u.Export, err = energy(v, es); err != nil {
				return Update{}, fmt.Errorf("%s: %w", g.ExportPath, err)
			}
		}
	}
	if g.PowerPath != "" {
		if v, ok := lookup(obj, g.PowerPath); ok {
			if u.Power, err = power(v, ps); err != nil {
				return Update{}, fmt.Errorf("%s: %w", g.PowerPath, err)
			}
		}
	}
	return u, nil
}
