package market

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/gridmesh/gridmesh/unit"
)

// ErrOrderLine is wrapped by every error of DecodeOrderLine and DecodeOrderLines.
var ErrOrderLine = errors.New("market: invalid order line")

// Limits of the order-line format.
const (
	MaxOrderLine = 4096 // bytes per line, without the newline
	MaxIDLen     = 128  // bytes of an id or owner
)

// DecodeOrderLines reads orders in the order-line format, one JSON object per
// line (blank lines are skipped; "\n" or "\r\n" line ends):
//
//	{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}
//
// Required: id (1..128 bytes, unique in the input), side ("buy" or "sell"),
// slot (>= 0), wh (1..MaxEnergy), price (micro-units per kWh, 0..MaxPrice).
// Optional: owner (string, default "" , up to 128 bytes) and height (>= 0,
// default 0). Decoding is strict: unknown or duplicate keys, keys in another
// case, null, non-integer numbers, numbers out of range, invalid UTF-8,
// lines longer than MaxOrderLine and anything after the object are errors.
// The first bad line stops decoding; the error names it ("line 3: ...") and
// wraps ErrOrderLine, and no orders are returned. Tariff bounds are not
// checked here (see Tariff.Check).
func DecodeOrderLines(r io.Reader) ([]Order, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxOrderLine+2) // room for "\r\n"
	var orders []Order
	seen := make(map[string]int)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		o, err := DecodeOrderLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, dup := seen[o.ID]; dup {
			return nil, fmt.Errorf("line %d: %w: duplicate id %q (line %d)", n, ErrOrderLine, o.ID, prev)
		}
		seen[o.ID] = n
		orders = append(orders, o)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: %w: longer than %d bytes", n+1, ErrOrderLine, MaxOrderLine)
		}
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return orders, nil
}

// DecodeOrderLine decodes one line of the order-line format (see
// DecodeOrderLines), without its line end.
func DecodeOrderLine(line []byte) (Order, error) {
	var o Order
	if len(line) > MaxOrderLine {
		return o, fmt.Errorf("%w: longer than %d bytes", ErrOrderLine, MaxOrderLine)
	}
	if !utf8.Valid(line) {
		return o, fmt.Errorf("%w: invalid UTF-8", ErrOrderLine)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return o, fmt.Errorf("%w: not a JSON object", ErrOrderLine)
	}
	var have uint8
	const (
		hID = 1 << iota
		hSide
		hSlot
		hWh
		hPrice
		hOwner
		hHeight
		required = hID | hSide | hSlot | hWh | hPrice
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return o, fmt.Errorf("%w: %v", ErrOrderLine, err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return o, fmt.Errorf("%w: %q: %v", ErrOrderLine, key, err)
		}
		if string(raw) == "null" {
			return o, fmt.Errorf("%w: %q: null", ErrOrderLine, key)
		}
		var bit uint8
		switch key {
		case "id":
			bit = hID
			err = decodeName(raw, &o.ID, 1)
		case "owner":
			bit = hOwner
			err = decodeName(raw, &o.Owner, 0)
		case "side":
			bit = hSide
			var s string
			if err = json.Unmarshal(raw, &s); err == nil {
				o.Side, err = ParseSide(s)
			}
		case "slot":
			bit = hSlot
			var v int64
			v, err = decodeInt(raw, 0, math.MaxInt64)
			o.Slot = unit.Slot(v)
		case "wh":
			bit = hWh
			var v int64
			v, err = decodeInt(raw, 1, int64(MaxEnergy))
			o.Energy = unit.Wh(v)
		case "price":
			bit = hPrice
			var v int64
			v, err = decodeInt(raw, 0, int64(MaxPrice))
			o.Price = unit.Price(v)
		case "height":
			bit = hHeight
			var v int64
			v, err = decodeInt(raw, 0, math.MaxInt64)
			o.Height = uint64(v)
		default:
			return o, fmt.Errorf("%w: unknown field %q", ErrOrderLine, key)
		}
		if have&bit != 0 {
			return o, fmt.Errorf("%w: duplicate field %q", ErrOrderLine, key)
		}
		have |= bit
		if err != nil {
			return o, fmt.Errorf("%w: %q: %v", ErrOrderLine, key, err)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return o, fmt.Errorf("%w: unterminated object", ErrOrderLine)
	}
	if _, err := dec.Token(); err != io.EOF {
		return o, fmt.Errorf("%w: trailing data after the object", ErrOrderLine)
	}
	if have&required != required {
		for _, f := range []struct {
			bit  uint8
			name string
		}{{hID, "id"}, {hSide, "side"}, {hSlot, "slot"}, {hWh, "wh"}, {hPrice, "price"}} {
			if have&f.bit == 0 {
				return o, fmt.Errorf("%w: missing field %q", ErrOrderLine, f.name)
			}
		}
	}
	return o, nil
}

// decodeName decodes a JSON string of minLen..MaxIDLen bytes.
func decodeName(raw []byte, dst *string, minLen int) error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	if len(s) < minLen || len(s) > MaxIDLen {
		return fmt.Errorf("length %d not in [%d, %d]", len(s), minLen, MaxIDLen)
	}
	*dst = s
	return nil
}

// decodeInt decodes a JSON integer in [lo, hi]: no fraction, no exponent.
func decodeInt(raw []byte, lo, hi int64) (int64, error) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, fmt.Errorf("not an integer: %s", raw)
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %s", raw)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d not in [%d, %d]", v, lo, hi)
	}
	return v, nil
}

// AppendOrderLine appends o in the order-line format (without a line end),
// with owner and height only when set. DecodeOrderLine reads it back.
func AppendOrderLine(b []byte, o Order) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, o.ID)
	if o.Owner != "" {
		b = append(b, `,"owner":`...)
		b = appendJSONString(b, o.Owner)
	}
	b = append(b, `,"side":"`...)
	b = append(b, o.Side.String()...)
	b = append(b, `","slot":`...)
	b = strconv.AppendInt(b, int64(o.Slot), 10)
	b = append(b, `,"wh":`...)
	b = strconv.AppendInt(b, int64(o.Energy), 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendInt(b, int64(o.Price), 10)
	if o.Height != 0 {
		b = append(b, `,"height":`...)
		b = strconv.AppendUint(b, o.Height, 10)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
