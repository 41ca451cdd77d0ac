package market

import (
	"math/rand/v2"
	"testing"

	"github.com/gridmesh/gridmesh/unit"
)

func TestQuote(t *testing.T) {
	tf := Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	st := Strategy{SellMin: 120_000, BuyMax: 250_000}
	type q struct {
		side   Side
		energy unit.Wh
		price  unit.Price
		ok     bool
	}
	tests := []struct {
		name     string
		t        Tariff
		s        Strategy
		imp, exp unit.Wh
		prog     int64
		want     q
	}{
		{"seller opens at ceiling", tf, st, 0, 500, 0, q{Sell, 500, 300_000, true}},
		{"seller halfway", tf, st, 0, 500, 500_000, q{Sell, 500, 210_000, true}},
		{"seller at gate closure: own limit", tf, st, 0, 500, PPM, q{Sell, 500, 120_000, true}},
		{"seller progress clamped", tf, st, 0, 500, 2 * PPM, q{Sell, 500, 120_000, true}},
		{"seller net of own use", tf, st, 200, 500, PPM, q{Sell, 300, 120_000, true}},
		{"seller limit below floor", tf, Strategy{SellMin: 1}, 0, 500, PPM, q{Sell, 500, 80_000, true}},
		{"seller limit above ceiling", tf, Strategy{SellMin: 300_001}, 0, 500, PPM, q{}},
		{"buyer opens at floor+fee", tf, st, 400, 0, 0, q{Buy, 400, 100_000, true}},
		{"buyer progress clamped", tf, st, 400, 0, -3, q{Buy, 400, 100_000, true}},
		{"buyer halfway, rounded toward start", tf, Strategy{BuyMax: 250_001}, 400, 0, 500_000, q{Buy, 400, 175_000, true}},
		{"buyer at gate closure: own limit", tf, st, 400, 100, PPM, q{Buy, 300, 250_000, true}},
		{"buyer limit above ceiling", tf, Strategy{BuyMax: 999_999}, 400, 0, PPM, q{Buy, 400, 300_000, true}},
		{"buyer limit below floor+fee: stays at limit", tf, Strategy{BuyMax: 90_000}, 400, 0, 0, q{Buy, 400, 90_000, true}},
		{"buyer limit below floor", tf, Strategy{BuyMax: 79_999}, 400, 0, 0, q{}},
		{"balanced home: no order", tf, st, 300, 300, PPM, q{}},
		{"nothing forecast", tf, st, 0, 0, 0, q{}},
		{"energy capped", tf, st, 0, MaxEnergy + 5, 0, q{Sell, MaxEnergy, 300_000, true}},
		{"invalid tariff", Tariff{Floor: 5, Ceiling: 1}, st, 0, 10, 0, q{}},
	}
	for _, tt := range tests {
		side, e, p, ok := Quote(tt.t, tt.s, tt.imp, tt.exp, tt.prog)
		if got := (q{side, e, p, ok}); got != tt.want {
			t.Errorf("%s: Quote = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestQuoteProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		floor := unit.Price(rng.Int64N(200_000))
		fee := unit.Price(rng.Int64N(50_000))
		tf := Tariff{Floor: floor, Fee: fee, Ceiling: floor + fee + unit.Price(rng.Int64N(300_000))}
		s := Strategy{SellMin: unit.Price(rng.Int64N(600_000)), BuyMax: unit.Price(rng.Int64N(600_000))}
		imp, exp := unit.Wh(rng.Int64N(1000)), unit.Wh(rng.Int64N(1000))
		var last unit.Price
		for i, prog := range []int64{0, 1, 250_000, 999_999, PPM} {
			side, e, p, ok := Quote(tf, s, imp, exp, prog)
			if !ok {
				continue
			}
			o := Order{Side: side, Energy: e, Price: p}
			if err := tf.Check(o); err != nil {
				t.Fatalf("Quote(%+v, %+v, %d, %d, %d) = %+v fails Check: %v", tf, s, imp, exp, prog, o, err)
			}
			if side == Sell && (p < s.SellMin || i > 0 && p > last) || side == Buy && (p > s.BuyMax || i > 0 && p < last) {
				t.Fatalf("Quote(%+v, %+v, prog %d): %v at %d beyond limit or ramp reversed (last %d)", tf, s, prog, side, p, last)
			}
			last = p
		}
	}
}
