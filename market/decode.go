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
	orders, _, err := decodeLines(r, false)
	return orders, err
}

// DecodeBookLines is DecodeOrderLines for a book that may hold curves: a
// line may give, instead of wh and price, a curve of steps
//
//	{"id":"bat","side":"buy","slot":1,"curve":[{"wh":500,"price":200000},{"wh":500,"price":150000}]}
//
// (each step exactly wh, 1..MaxEnergy, and price, 0..MaxPrice; at least one
// step), which is returned as a Curve; the other lines are returned as
// orders. Ids are unique across both. The curve's shape (number of steps,
// monotone prices) is not checked here: the caller applies the rules of the
// book it clears for (gridmesh market clear applies the chain's, chain.Order.Check).
func DecodeBookLines(r io.Reader) ([]Order, []Curve, error) {
	return decodeLines(r, true)
}

// decodeLines reads order lines, and curve lines if curves is set.
func decodeLines(r io.Reader, curves bool) ([]Order, []Curve, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxOrderLine+2) // room for "\r\n"
	var orders []Order
	var cs []Curve
	seen := make(map[string]int)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		o, steps, err := decodeLine(line, curves)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, dup := seen[o.ID]; dup {
			return nil, nil, fmt.Errorf("line %d: %w: duplicate id %q (line %d)", n, ErrOrderLine, o.ID, prev)
		}
		seen[o.ID] = n
		if steps == nil {
			orders = append(orders, o)
		} else {
			cs = append(cs, Curve{ID: o.ID, Owner: o.Owner, Side: o.Side, Slot: o.Slot, Height: o.Height, Steps: steps})
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("line %d: %w: longer than %d bytes", n+1, ErrOrderLine, MaxOrderLine)
		}
		return nil, nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return orders, cs, nil
}

// DecodeOrderLine decodes one line of the order-line format (see
// DecodeOrderLines), without its line end.
func DecodeOrderLine(line []byte) (Order, error) {
	o, _, err := decodeLine(line, false)
	return o, err
}

// decodeSteps decodes a curve's JSON array of {"wh":N,"price":P} objects.
func decodeSteps(raw []byte) ([]Step, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, errors.New("not an array of steps")
	}
	steps := []Step{}
	for dec.More() {
		var obj json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("step %d: %v", len(steps), err)
		}
		wh, pr, ok := stepFields(obj)
		if !ok {
			return nil, fmt.Errorf("step %d: want an object of exactly \"wh\" and \"price\", once each", len(steps))
		}
		e, err := decodeInt(wh, 1, int64(MaxEnergy))
		if err != nil {
			return nil, fmt.Errorf("step %d: wh: %v", len(steps), err)
		}
		p, err := decodeInt(pr, 0, int64(MaxPrice))
		if err != nil {
			return nil, fmt.Errorf("step %d: price: %v", len(steps), err)
		}
		steps = append(steps, Step{Energy: unit.Wh(e), Price: unit.Price(p)})
	}
	if len(steps) == 0 {
		return nil, errors.New("no steps")
	}
	return steps, nil
}

// stepFields returns the raw values of a step object's "wh" and "price";
// ok is false unless the object has exactly those two keys, once each.
func stepFields(obj []byte) (wh, price json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, false
		}
		switch key, _ := tok.(string); {
		case key == "wh" && wh == nil:
			wh = raw
		case key == "price" && price == nil:
			price = raw
		default:
			return nil, nil, false
		}
	}
	return wh, price, wh != nil && price != nil
}

// decodeLine decodes an order line; with curves, a "curve" field in place of
// wh and price gives the steps (Order.Energy their total, Order.Price the
// first step's price).
func decodeLine(line []byte, curves bool) (Order, []Step, error) {
	var o Order
	var steps []Step
	if len(line) > MaxOrderLine {
		return o, nil, fmt.Errorf("%w: longer than %d bytes", ErrOrderLine, MaxOrderLine)
	}
	if !utf8.Valid(line) {
		return o, nil, fmt.Errorf("%w: invalid UTF-8", ErrOrderLine)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return o, nil, fmt.Errorf("%w: not a JSON object", ErrOrderLine)
	}
	var have uint8
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return o, nil, fmt.Errorf("%w: %v", ErrOrderLine, err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return o, nil, fmt.Errorf("%w: %q: %v", ErrOrderLine, key, err)
		}
		if string(raw) == "null" {
			return o, nil, fmt.Errorf("%w: %q: null", ErrOrderLine, key)
		}
		bit, known, err := decodeField(key, raw, &o, &steps, curves)
		if !known {
			hint := ""
			if key == "curve" {
				hint = " (curves are read by DecodeBookLines)"
			}
			return o, nil, fmt.Errorf("%w: unknown field %q%s", ErrOrderLine, key, hint)
		}
		if have&bit != 0 {
			return o, nil, fmt.Errorf("%w: duplicate field %q", ErrOrderLine, key)
		}
		have |= bit
		if err != nil {
			return o, nil, fmt.Errorf("%w: %q: %v", ErrOrderLine, key, err)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return o, nil, fmt.Errorf("%w: unterminated object", ErrOrderLine)
	}
	if _, err := dec.Token(); err != io.EOF {
		return o, nil, fmt.Errorf("%w: trailing data after the object", ErrOrderLine)
	}
	if have&hCurve != 0 {
		if have&(hWh|hPrice) != 0 {
			return o, nil, fmt.Errorf("%w: a curve order has no \"wh\" or \"price\" (its steps give them)", ErrOrderLine)
		}
		have |= hWh | hPrice
		if err := sumSteps(&o, steps); err != nil {
			return o, nil, err
		}
	}
	for _, f := range []struct {
		bit  uint8
		name string
	}{{hID, "id"}, {hSide, "side"}, {hSlot, "slot"}, {hWh, "wh"}, {hPrice, "price"}} {
		if have&f.bit == 0 {
			return o, nil, fmt.Errorf("%w: missing field %q", ErrOrderLine, f.name)
		}
	}
	return o, steps, nil
}

// sumSteps sets a curve order's Energy to its steps' total (at most
// MaxEnergy) and its Price to the first step's.
func sumSteps(o *Order, steps []Step) error {
	for _, st := range steps {
		if st.Energy > MaxEnergy-o.Energy {
			return fmt.Errorf("%w: \"curve\": more than %d Wh in all", ErrOrderLine, MaxEnergy)
		}
		o.Energy += st.Energy
	}
	o.Price = steps[0].Price
	return nil
}

// The fields of an order line, as bits.
const (
	hID = 1 << iota
	hSide
	hSlot
	hWh
	hPrice
	hOwner
	hHeight
	hCurve
)

// decodeField decodes the value raw of field key into o (or steps, for a
// curve when curves allows them) and returns the field's bit and the error
// of its value; known is false for a field the line may not have.
func decodeField(key string, raw []byte, o *Order, steps *[]Step, curves bool) (bit uint8, known bool, err error) {
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
	case "curve":
		if !curves {
			return 0, false, nil
		}
		bit = hCurve
		*steps, err = decodeSteps(raw)
	default:
		return 0, false, nil
	}
	return bit, true, err
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
