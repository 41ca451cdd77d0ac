package market

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/unit"
)

func TestDecodeOrderLines(t *testing.T) {
	in := `{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}

{"id":"b1","side":"buy","slot":1,"wh":500,"price":180000,"owner":"bob","height":7}` + "\r\n" +
		`  {"price":0,"wh":10000000000,"slot":0,"side":"buy","id":"\u00e9"}  `
	got, err := DecodeOrderLines(strings.NewReader(in))
	if err != nil {
		t.Fatalf("DecodeOrderLines: %v", err)
	}
	want := []Order{
		{ID: "a1", Side: Sell, Slot: 1, Energy: 500, Price: 120_000},
		{ID: "b1", Owner: "bob", Side: Buy, Slot: 1, Energy: 500, Price: 180_000, Height: 7},
		{ID: "é", Side: Buy, Slot: 0, Energy: MaxEnergy, Price: 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeOrderLines mismatch (-want +got):\n%s", diff)
	}
	// The example clears as the issue says.
	r := Clear(1, got, Tariff{Ceiling: MaxPrice}, DefaultParams())
	if r.Price != 150_000 || r.Volume != 500 || len(r.Trades) != 1 {
		t.Errorf("Clear(example) = %+v, want price 150000, volume 500, one trade", r)
	}
	if got, err := DecodeOrderLines(strings.NewReader("")); err != nil || got != nil {
		t.Errorf("empty input: %v, %v; want nil, nil", got, err)
	}
}

func TestDecodeOrderLinesErrors(t *testing.T) {
	ok := `{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}`
	tests := []struct {
		name, in, want string
	}{
		{"unknown field", `{"id":"a1","side":"sell","slot":1,"wh":500,"price":1,"x":1}`, `line 1: market: invalid order line: unknown field "x"`},
		{"field case", `{"ID":"a1","side":"sell","slot":1,"wh":500,"price":1}`, `unknown field "ID"`},
		{"duplicate field", `{"id":"a1","id":"a2","side":"sell","slot":1,"wh":500,"price":1}`, `duplicate field "id"`},
		{"missing wh", `{"id":"a1","side":"sell","slot":1,"price":1}`, `missing field "wh"`},
		{"missing id", `{"side":"sell","slot":1,"wh":1,"price":1}`, `missing field "id"`},
		{"empty id", `{"id":"","side":"sell","slot":1,"wh":1,"price":1}`, `"id": length 0`},
		{"long id", `{"id":"` + strings.Repeat("x", 129) + `","side":"sell","slot":1,"wh":1,"price":1}`, `"id": length 129`},
		{"bad side", `{"id":"a1","side":"Sell","slot":1,"wh":1,"price":1}`, `market: invalid side: "Sell"`},
		{"null", `{"id":"a1","side":null,"slot":1,"wh":1,"price":1}`, `"side": null`},
		{"zero wh", `{"id":"a1","side":"sell","slot":1,"wh":0,"price":1}`, `"wh": 0 not in [1, 10000000000]`},
		{"too much wh", `{"id":"a1","side":"sell","slot":1,"wh":10000000001,"price":1}`, `not in`},
		{"fraction", `{"id":"a1","side":"sell","slot":1,"wh":1.5,"price":1}`, `"wh": not an integer: 1.5`},
		{"exponent", `{"id":"a1","side":"sell","slot":1,"wh":1e3,"price":1}`, `not an integer: 1e3`},
		{"string number", `{"id":"a1","side":"sell","slot":1,"wh":"5","price":1}`, `not an integer: "5"`},
		{"huge number", `{"id":"a1","side":"sell","slot":1,"wh":99999999999999999999,"price":1}`, `not an integer`},
		{"negative price", `{"id":"a1","side":"sell","slot":1,"wh":1,"price":-1}`, `"price": -1 not in`},
		{"price too high", `{"id":"a1","side":"sell","slot":1,"wh":1,"price":1000000001}`, `not in`},
		{"negative slot", `{"id":"a1","side":"sell","slot":-1,"wh":1,"price":1}`, `"slot": -1 not in`},
		{"trailing data", ok + ` {}`, `trailing data`},
		{"trailing garbage", ok + `x`, `trailing data`},
		{"trailing comma", `{"id":"a1","side":"sell","slot":1,"wh":1,"price":1,}`, `market: invalid order line`},
		{"array", `[1]`, `not a JSON object`},
		{"unterminated", `{"id":"a1"`, `market: invalid order line`},
		{"invalid utf-8", "{\"id\":\"\xff\",\"side\":\"sell\",\"slot\":1,\"wh\":1,\"price\":1}", `invalid UTF-8`},
		{"second line bad", ok + "\n" + `{"id":"a2"}`, `line 2: `},
		{"duplicate id", ok + "\n\n" + ok, `line 3: market: invalid order line: duplicate id "a1" (line 1)`},
		{"long line", ok + "\n" + strings.Repeat(" ", MaxOrderLine+3), `line 2: market: invalid order line: longer than 4096 bytes`},
	}
	for _, tt := range tests {
		got, err := DecodeOrderLines(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrOrderLine) && !errors.Is(err, ErrSide) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if got != nil {
			t.Errorf("%s: returned %d orders with the error", tt.name, len(got))
		}
	}
}

func TestAppendOrderLine(t *testing.T) {
	orders := []Order{
		{ID: "a1", Side: Sell, Slot: 1, Energy: 500, Price: 120_000},
		{ID: "quote\"back\\slash\u0001<tag>", Owner: "é", Side: Buy, Slot: 1 << 40, Energy: MaxEnergy, Price: MaxPrice, Height: 1 << 50},
	}
	want := `{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}`
	if got := string(AppendOrderLine(nil, orders[0])); got != want {
		t.Errorf("AppendOrderLine = %s, want %s", got, want)
	}
	for _, o := range orders {
		line := AppendOrderLine(nil, o)
		got, err := DecodeOrderLine(line)
		if err != nil || got != o {
			t.Errorf("round trip of %+v: got %+v, %v (line %s)", o, got, err, line)
		}
	}
}

func FuzzDecodeOrderLine(f *testing.F) {
	f.Add([]byte(`{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}`))
	f.Add([]byte(`{"id":"b1","side":"buy","slot":1,"wh":500,"price":180000,"owner":"bob","height":7}`))
	f.Add([]byte(`{"id":"a1","side":"sell","slot":1,"wh":1.5,"price":1}`))
	f.Add([]byte(`{"id":"\u0000","side":"buy","slot":0,"wh":1,"price":0} `))
	f.Add([]byte(`{"id":"a1","id":"a1"}`))
	f.Add([]byte("{\"id\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		o, err := DecodeOrderLine(line)
		if err != nil {
			if !errors.Is(err, ErrOrderLine) {
				t.Fatalf("error %v does not wrap ErrOrderLine", err)
			}
			return
		}
		if o.ID == "" || !o.Side.Valid() || !o.wellFormed() || o.Slot < 0 {
			t.Fatalf("accepted an invalid order %+v from %q", o, line)
		}
		again, err := DecodeOrderLine(AppendOrderLine(nil, o))
		if err != nil || again != o {
			t.Fatalf("round trip of %+v: got %+v, %v", o, again, err)
		}
		// The same line through the multi-line reader gives the same order.
		if !strings.ContainsAny(string(line), "\n\r") {
			os, err := DecodeOrderLines(strings.NewReader(string(line)))
			if err != nil || len(os) != 1 || os[0] != o {
				t.Fatalf("DecodeOrderLines(%q) = %v, %v; want [%+v]", line, os, err, o)
			}
		}
	})
}

func TestDecodeBookLines(t *testing.T) {
	in := `{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}
{"id":"bat","owner":"b","side":"buy","slot":1,"curve":[{"wh":300,"price":200000},{"price":150000,"wh":200}]}
`
	orders, curves, err := DecodeBookLines(strings.NewReader(in))
	if err != nil {
		t.Fatalf("DecodeBookLines: %v", err)
	}
	wantCurve := Curve{ID: "bat", Owner: "b", Side: Buy, Slot: 1, Steps: []Step{{300, 200_000}, {200, 150_000}}}
	if len(orders) != 1 || orders[0].ID != "a1" || len(curves) != 1 || !reflect.DeepEqual(curves[0], wantCurve) {
		t.Fatalf("got %+v %+v, want a1 and %+v", orders, curves, wantCurve)
	}
	for _, c := range []struct{ in, want string }{
		{`{"id":"c","side":"buy","slot":1,"wh":5,"curve":[{"wh":1,"price":1}]}`, `no "wh" or "price"`},
		{`{"id":"c","side":"buy","slot":1,"curve":[]}`, "no steps"},
		{`{"id":"c","side":"buy","slot":1,"curve":[{"wh":1}]}`, `exactly "wh" and "price"`},
		{`{"id":"c","side":"buy","slot":1,"curve":[{"wh":0,"price":1}]}`, "step 0: wh"},
		{`{"id":"c","side":"buy","slot":1,"curve":[{"wh":1,"price":1,"x":2}]}`, `exactly "wh" and "price"`},
		{`{"id":"c","side":"buy","slot":1,"curve":[{"wh":1,"price":1,"wh":2}]}`, `once each`},
		{`{"id":"c","side":"buy","slot":1,"curve":[null]}`, `exactly "wh" and "price"`},
		{`{"id":"c","side":"buy","slot":1,"curve":[{"wh":10000000000,"price":1},{"wh":1,"price":1}]}`, "Wh in all"},
		{`{"id":"c","side":"buy","slot":1,"curve":{}}`, "not an array"},
	} {
		_, _, err := DecodeBookLines(strings.NewReader(c.in))
		if !errors.Is(err, ErrOrderLine) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeBookLines(%s) = %v, want an ErrOrderLine containing %q", c.in, err, c.want)
		}
	}
	if _, err := DecodeOrderLine([]byte(`{"id":"c","side":"buy","slot":1,"curve":[{"wh":1,"price":1}]}`)); !errors.Is(err, ErrOrderLine) {
		t.Errorf("DecodeOrderLine(curve line) = %v, want ErrOrderLine (single-price lines only)", err)
	}
}

func FuzzDecodeBookLine(f *testing.F) {
	f.Add([]byte(`{"id":"a1","side":"sell","slot":1,"wh":500,"price":120000}`))
	f.Add([]byte(`{"id":"bat","side":"buy","slot":1,"curve":[{"wh":300,"price":200000},{"wh":200,"price":150000}]}`))
	f.Add([]byte(`{"id":"bat","side":"buy","slot":1,"curve":[{"wh":300,"price":200000,"wh":1}]}`))
	f.Add([]byte(`{"id":"bat","side":"buy","slot":1,"curve":[null]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		o, steps, err := decodeLine(line, true)
		if err != nil {
			if !errors.Is(err, ErrOrderLine) {
				t.Fatalf("error %v does not wrap ErrOrderLine", err)
			}
			return
		}
		if o.ID == "" || !o.wellFormed() || o.Slot < 0 {
			t.Fatalf("accepted an invalid order %+v from %q", o, line)
		}
		if steps == nil {
			if again, err := DecodeOrderLine(line); err != nil || again != o {
				t.Fatalf("DecodeOrderLine(%q) = %+v, %v; decodeLine(line, true) gave %+v", line, again, err, o)
			}
			return
		}
		var total unit.Wh
		for _, st := range steps {
			if st.Energy < 1 || st.Price < 0 || st.Price > MaxPrice {
				t.Fatalf("accepted a bad step %+v from %q", st, line)
			}
			total += st.Energy
		}
		if total != o.Energy || o.Price != steps[0].Price {
			t.Fatalf("order %+v does not sum up steps %+v", o, steps)
		}
	})
}
