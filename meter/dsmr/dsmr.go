package dsmr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// MaxSize is the largest telegram Parse accepts (real ones are below 3 KiB).
const MaxSize = 16 << 10

var (
	// ErrSyntax is wrapped by every error for a malformed telegram.
	ErrSyntax = errors.New("dsmr: malformed telegram")
	// ErrCRC is returned for a telegram whose CRC does not match.
	ErrCRC = errors.New("dsmr: crc mismatch")
	// ErrMissing is returned by Reading when the telegram has no import counter.
	ErrMissing = errors.New("dsmr: no import counter in telegram")
)

// Value is one parenthesised value: Raw is the text before "*", Unit after it
// ("" if none).
type Value struct {
	Raw  string
	Unit string
}

// Object is one data line: an OBIS code (without any "*F" suffix) and its
// values in order.
type Object struct {
	OBIS   string
	Values []Value
}

// Telegram is a parsed P1 telegram.
type Telegram struct {
	Header  string   // the identification line without "/", e.g. "KFM5KAIFA-METER"
	Objects []Object // in telegram order
	CRC     bool     // the telegram carried a CRC (and it matched)
}

// Get returns the first object with the OBIS code.
func (t Telegram) Get(obis string) (Object, bool) {
	for _, o := range t.Objects {
		if o.OBIS == obis {
			return o, true
		}
	}
	return Object{}, false
}

// Version returns the DSMR version from 1-3:0.2.8 ("42", "50"), "" if absent
// (DSMR 2.2 and 3 do not send it).
func (t Telegram) Version() string {
	if o, ok := t.Get("1-3:0.2.8"); ok && len(o.Values) == 1 {
		return o.Values[0].Raw
	}
	return ""
}

// CRC16 is CRC-16/ARC as DSMR uses it.
func CRC16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c ^= uint16(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
	}
	return c
}

func syntaxErr(line int, format string, a ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrSyntax, line, fmt.Sprintf(format, a...))
}

// Parse parses one telegram: b starts with "/" and ends after the trailer
// line ("!" [CRC] CRLF; the final line break may be missing). Lines end in
// CRLF or LF. Anything else is an error wrapping ErrSyntax or ErrCRC.
func Parse(b []byte) (Telegram, error) {
	var t Telegram
	if len(b) > MaxSize {
		return t, fmt.Errorf("%w: %d bytes, more than %d", ErrSyntax, len(b), MaxSize)
	}
	if len(b) == 0 || b[0] != '/' {
		return t, syntaxErr(1, "does not start with '/'")
	}
	end := bytes.LastIndexByte(b, '!')
	if end < 0 {
		return t, fmt.Errorf("%w: no '!' trailer", ErrSyntax)
	}
	// Trailer: "!" [4 hex] [CR] LF, or end of input.
	trail := b[end+1:]
	trail = bytes.TrimSuffix(trail, []byte("\n"))
	trail = bytes.TrimSuffix(trail, []byte("\r"))
	switch len(trail) {
	case 0:
	case 4:
		want, err := strconv.ParseUint(string(trail), 16, 16)
		if err != nil {
			return t, fmt.Errorf("%w: bad crc %q", ErrSyntax, trail)
		}
		if got := CRC16(b[:end+1]); got != uint16(want) {
			return t, fmt.Errorf("%w: telegram says %04X, computed %04X", ErrCRC, want, got)
		}
		t.CRC = true
	default:
		return t, fmt.Errorf("%w: bad trailer %q", ErrSyntax, trail)
	}
	lines := splitLines(b[1:end])
	if len(lines) == 0 || lines[len(lines)-1] != "" {
		return t, fmt.Errorf("%w: '!' does not start a line", ErrSyntax)
	}
	lines = lines[:len(lines)-1]
	if len(lines) == 0 {
		return t, syntaxErr(1, "no header line")
	}
	t.Header = lines[0]
	if t.Header == "" || !printable(t.Header) {
		return t, syntaxErr(1, "bad header %q", t.Header)
	}
	for i := 1; i < len(lines); i++ {
		ln := lines[i]
		if ln == "" {
			if i == 1 {
				continue // the blank line after the header
			}
			return t, syntaxErr(i+1, "empty line")
		}
		if ln[0] == '(' {
			// A continuation of the previous object's values (DSMR 2.2/3 gas).
			if len(t.Objects) == 0 {
				return t, syntaxErr(i+1, "values before any OBIS code")
			}
			vs, err := parseValues(ln)
			if err != nil {
				return t, syntaxErr(i+1, "%v", err)
			}
			o := &t.Objects[len(t.Objects)-1]
			o.Values = append(o.Values, vs...)
			continue
		}
		p := strings.IndexByte(ln, '(')
		if p < 0 {
			return t, syntaxErr(i+1, "no value in %q", ln)
		}
		obis, err := parseOBIS(ln[:p])
		if err != nil {
			return t, syntaxErr(i+1, "%v", err)
		}
		vs, err := parseValues(ln[p:])
		if err != nil {
			return t, syntaxErr(i+1, "%v", err)
		}
		t.Objects = append(t.Objects, Object{OBIS: obis, Values: vs})
	}
	if v := t.Version(); !t.CRC && v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 40 {
			return t, fmt.Errorf("%w: DSMR %s telegram without crc", ErrSyntax, v)
		}
	}
	return t, nil
}

// splitLines splits at LF, dropping a CR before it. The piece after the last
// LF is the last element ("" when b ends with a line break).
func splitLines(b []byte) []string {
	parts := strings.Split(string(b), "\n")
	for i, p := range parts[:len(parts)-1] {
		parts[i] = strings.TrimSuffix(p, "\r")
	}
	return parts
}

func printable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseOBIS checks "A-B:C.D.E" with an optional "*F" (0..255 each) and
// returns it without the suffix.
func parseOBIS(s string) (string, error) {
	code, _, hasF := strings.Cut(s, "*")
	a, rest, ok1 := strings.Cut(code, "-")
	b, rest, ok2 := strings.Cut(rest, ":")
	cde := strings.Split(rest, ".")
	if !ok1 || !ok2 || len(cde) != 3 {
		return "", fmt.Errorf("bad OBIS code %q", s)
	}
	parts := []string{a, b, cde[0], cde[1], cde[2]}
	if hasF {
		parts = append(parts, s[len(code)+1:])
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 8); err != nil || !digits(p) || len(p) > 3 {
			return "", fmt.Errorf("bad OBIS code %q", s)
		}
	}
	return code, nil
}

// parseValues parses "(v*u)(v)..." to the end of s.
func parseValues(s string) ([]Value, error) {
	var vs []Value
	for s != "" {
		if s[0] != '(' {
			return nil, fmt.Errorf("expected '(' in %q", s)
		}
		e := strings.IndexByte(s, ')')
		if e < 0 {
			return nil, fmt.Errorf("unclosed '(' in %q", s)
		}
		in := s[1:e]
		if strings.IndexByte(in, '(') >= 0 || !printable(in) {
			return nil, fmt.Errorf("bad value %q", in)
		}
		raw, u, _ := strings.Cut(in, "*")
		vs = append(vs, Value{Raw: raw, Unit: u})
		s = s[e+1:]
	}
	return vs, nil
}

// Encode writes t as a telegram with CRLF line ends, and a CRC if t.CRC.
// Parse(t.Encode()) gives t back for any parsed telegram.
func (t Telegram) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("/" + t.Header + "\r\n\r\n")
	for _, o := range t.Objects {
		b.WriteString(o.OBIS)
		for _, v := range o.Values {
			b.WriteByte('(')
			b.WriteString(v.Raw)
			if v.Unit != "" {
				b.WriteByte('*')
				b.WriteString(v.Unit)
			}
			b.WriteByte(')')
		}
		b.WriteString("\r\n")
	}
	b.WriteByte('!')
	if t.CRC {
		fmt.Fprintf(&b, "%04X", CRC16(b.Bytes()))
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Time returns the telegram's timestamp (0-0:1.0.0, or the gas reading's
// on DSMR 2.2/3 no timestamp at all) in UTC; ok is false if it has none.
func (t Telegram) Time() (time.Time, bool) {
	o, ok := t.Get("0-0:1.0.0")
	if !ok || len(o.Values) != 1 {
		return time.Time{}, false
	}
	tm, err := ParseTime(o.Values[0].Raw)
	return tm, err == nil
}

// ParseTime parses a DSMR timestamp YYMMDDhhmmssX (X = W: UTC+1, S: UTC+2).
func ParseTime(s string) (time.Time, error) {
	if len(s) != 13 {
		return time.Time{}, fmt.Errorf("%w: timestamp %q", ErrSyntax, s)
	}
	var off int
	switch s[12] {
	case 'W':
		off = 1
	case 'S':
		off = 2
	default:
		return time.Time{}, fmt.Errorf("%w: timestamp %q: season %q", ErrSyntax, s, s[12])
	}
	tm, err := time.ParseInLocation("060102150405", s[:12], time.FixedZone("", off*3600))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %q", ErrSyntax, s)
	}
	return tm.UTC(), nil
}

// scale maps a unit to its multiplier into the target integer unit.
var scale = map[string]struct {
	target string
	mul    int64
}{
	"kwh": {"Wh", 1000}, "wh": {"Wh", 1},
	"kw": {"W", 1000}, "w": {"W", 1},
	"v": {"mV", 1000}, "a": {"mA", 1000},
}

// Int converts a value to an integer in the target unit ("Wh", "W", "mV",
// "mA"), truncating decimals beyond it toward zero. A value without a unit
// is taken to be in the target's base unit (kWh, kW, V, A).
func (v Value) Int(target string) (int64, error) {
	u := strings.ToLower(v.Unit)
	if u == "" {
		u = map[string]string{"Wh": "kwh", "W": "kw", "mV": "v", "mA": "a"}[target]
	}
	sc, ok := scale[u]
	if !ok || sc.target != target {
		return 0, fmt.Errorf("dsmr: unit %q is not convertible to %s", v.Unit, target)
	}
	return decimal(v.Raw, sc.mul)
}

// decimal parses [-]digits[.digits] × mul (a power of ten), truncating.
func decimal(s string, mul int64) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" || !digits(ip) || !digits(fp) || (strings.Contains(s, ".") && fp == "") {
		return 0, fmt.Errorf("dsmr: bad number %q", s)
	}
	n, err := strconv.ParseInt(strings.TrimLeft(ip, "0")+"0", 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dsmr: number %q: %w", s, err)
	}
	n /= 10 // the appended "0" keeps an all-zero integer part parseable
	var f int64
	for m := mul; m > 1; m /= 10 {
		f *= 10
		if fp != "" {
			f += int64(fp[0] - '0')
			fp = fp[1:]
		}
	}
	if n > (1<<63-1-f)/mul {
		return 0, fmt.Errorf("dsmr: number %q out of range", s)
	}
	n = n*mul + f
	if neg {
		n = -n
	}
	return n, nil
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Reading maps the telegram to a meter reading:
//   - Import: 1-0:1.8.0 if present, else the sum of the tariff registers
//     1-0:1.8.1 ... 1-0:1.8.9; Export likewise from 2.8.x (NoExport if none);
//   - Power: 1-0:1.7.0 − 1-0:2.7.0 (NoPower if neither);
//   - Phases: voltage 32/52/72.7.0, current 31/51/71.7.0, power 21−22,
//     41−42, 61−62 .7.0 (PhasesValid if any);
//   - Serial: 0-0:96.1.1 (hex-decoded when it is hex of printable ASCII, as
//     in Dutch meters), else 0-0:96.1.255 or 1-0:0.0.0; cut to meter.MaxSerial;
//   - Time: 0-0:1.0.0 (MeterTime), else zero (the sampler stamps it).
func (t Telegram) Reading() (meter.Reading, error) {
	var r meter.Reading
	imp, okI, err := t.counter("1")
	if err != nil {
		return r, err
	}
	if !okI {
		return r, ErrMissing
	}
	exp, okE, err := t.counter("2")
	if err != nil {
		return r, err
	}
	r.Import, r.Export = unit.Wh(imp), unit.Wh(exp)
	if !okE {
		r.Flags |= meter.NoExport
	}
	p, okP, err := t.net("1-0:1.7.0", "1-0:2.7.0")
	if err != nil {
		return r, err
	}
	r.Power = unit.W(p)
	if !okP {
		r.Flags |= meter.NoPower
	}
	phases := [3]struct{ v, i, pi, pe string }{
		{"1-0:32.7.0", "1-0:31.7.0", "1-0:21.7.0", "1-0:22.7.0"},
		{"1-0:52.7.0", "1-0:51.7.0", "1-0:41.7.0", "1-0:42.7.0"},
		{"1-0:72.7.0", "1-0:71.7.0", "1-0:61.7.0", "1-0:62.7.0"},
	}
	for k, ph := range phases {
		v, okV, err := t.one(ph.v, "mV")
		if err != nil {
			return r, err
		}
		i, okC, err := t.one(ph.i, "mA")
		if err != nil {
			return r, err
		}
		pw, okW, err := t.net(ph.pi, ph.pe)
		if err != nil {
			return r, err
		}
		r.Phases[k] = meter.Phase{Voltage: v, Current: i, Power: unit.W(pw)}
		if okV || okC || okW {
			r.Flags |= meter.PhasesValid
		}
	}
	r.Serial = t.serial()
	if tm, ok := t.Time(); ok {
		r.Time = tm
		r.Flags |= meter.MeterTime
	}
	return r, nil
}

// counter returns register dir.8.0 or the sum of dir.8.1..9, in Wh.
func (t Telegram) counter(dir string) (int64, bool, error) {
	if v, ok, err := t.one("1-0:"+dir+".8.0", "Wh"); ok || err != nil {
		return v, ok, err
	}
	var sum int64
	var any bool
	for k := 1; k <= 9; k++ {
		v, ok, err := t.one(fmt.Sprintf("1-0:%s.8.%d", dir, k), "Wh")
		if err != nil {
			return 0, false, err
		}
		if ok {
			if sum > 1<<62 || v > 1<<62 {
				return 0, false, fmt.Errorf("dsmr: counter 1-0:%s.8.x out of range", dir)
			}
			sum += v
			any = true
		}
	}
	return sum, any, nil
}

// net returns import minus export power in W from two registers.
func (t Telegram) net(in, out string) (int64, bool, error) {
	pi, ok1, err := t.one(in, "W")
	if err != nil {
		return 0, false, err
	}
	pe, ok2, err := t.one(out, "W")
	if err != nil {
		return 0, false, err
	}
	if pi > 1<<62 || pe > 1<<62 || pi < -(1<<62) || pe < -(1<<62) {
		return 0, false, fmt.Errorf("dsmr: power %s/%s out of range", in, out)
	}
	return pi - pe, ok1 || ok2, nil
}

// one returns the single value of obis in the target unit.
func (t Telegram) one(obis, target string) (int64, bool, error) {
	o, ok := t.Get(obis)
	if !ok {
		return 0, false, nil
	}
	if len(o.Values) != 1 {
		return 0, false, fmt.Errorf("dsmr: %s has %d values, want 1", obis, len(o.Values))
	}
	v, err := o.Values[0].Int(target)
	if err != nil {
		return 0, false, fmt.Errorf("dsmr: %s: %w", obis, err)
	}
	return v, true, nil
}

func (t Telegram) serial() string {
	var s string
	for _, obis := range []string{"0-0:96.1.1", "0-0:96.1.255", "1-0:0.0.0"} {
		if o, ok := t.Get(obis); ok && len(o.Values) == 1 && o.Values[0].Raw != "" {
			s = o.Values[0].Raw
			if obis == "0-0:96.1.1" {
				if b, err := hex.DecodeString(s); err == nil && len(b) > 0 && printable(string(b)) {
					s = string(b)
				}
			}
			break
		}
	}
	if len(s) > meter.MaxSerial {
		s = s[:meter.MaxSerial]
	}
	return s
}

// ScanTelegrams is a bufio.SplitFunc that yields whole telegrams from a P1
// byte stream: from a "/" to the end of the next line that starts with "!".
// Bytes before a "/" (line noise, a partial telegram after connecting) are
// skipped; a telegram longer than MaxSize is skipped too.
func ScanTelegrams(data []byte, atEOF bool) (advance int, token []byte, err error) {
	start := bytes.IndexByte(data, '/')
	if start < 0 {
		return len(data), nil, nil
	}
	bang := bytes.Index(data[start:], []byte("\n!"))
	if bang < 0 {
		switch {
		case atEOF:
			return len(data), nil, nil // a partial telegram at the end
		case len(data)-start > MaxSize:
			return start + 1, nil, nil // give up on this one
		}
		return start, nil, nil
	}
	bang += start + 1
	nl := bytes.IndexByte(data[bang:], '\n')
	if nl < 0 {
		if atEOF {
			return len(data), data[start:], nil
		}
		if len(data)-bang > 8 {
			return len(data), data[start:], nil // no line end after the crc: let Parse judge
		}
		return start, nil, nil
	}
	end := bang + nl + 1
	return end, data[start:end], nil
}
