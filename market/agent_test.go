package market

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

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

func TestBatteryQuote(t *testing.T) {
	tf := Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	b := Battery{Capacity: 10_000, SoC: 4_000, Reserve: 1_000, ChargeW: 5_000, DischargeW: 4_000, EfficiencyPPM: 900_000}
	// 15-min slot: charge min(6000, 1250) = 1250 Wh; discharge min(3000 × 0.9, 1000) = 1000 Wh.
	buy, sell, okB, okS := b.Quote(tf, 200_000, 900, PPM)
	if !okB || !okS {
		t.Fatalf("Quote: okBuy %v, okSell %v; want both", okB, okS)
	}
	wantBuy := []Step{{417, 180_000}, {417, 171_000}, {416, 162_000}}
	wantSell := []Step{{334, 200_000}, {333, 210_000}, {333, 220_000}}
	if diff := cmp.Diff(wantBuy, buy.Steps); diff != "" {
		t.Errorf("buy steps at gate closure (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSell, sell.Steps); diff != "" {
		t.Errorf("sell steps at gate closure (-want +got):\n%s", diff)
	}
	buy, sell, _, _ = b.Quote(tf, 200_000, 900, 0)
	if buy.Steps[0].Price != 100_000 || sell.Steps[0].Price != 300_000 {
		t.Errorf("at opening: buy %d, sell %d; want floor+fee 100000, ceiling 300000", buy.Steps[0].Price, sell.Steps[0].Price)
	}
	full := b
	full.SoC = full.Capacity
	if _, _, okB, okS := full.Quote(tf, 200_000, 900, PPM); okB || !okS {
		t.Errorf("full battery: okBuy %v okSell %v; want false, true", okB, okS)
	}
	empty := b
	empty.SoC = empty.Reserve
	if _, _, okB, okS := empty.Quote(tf, 200_000, 900, PPM); !okB || okS {
		t.Errorf("battery at reserve: okBuy %v okSell %v; want true, false", okB, okS)
	}
	if _, _, okB, okS := b.Quote(tf, 300_001, 900, PPM); !okB || okS {
		t.Errorf("value above ceiling: okBuy %v okSell %v; want true, false", okB, okS)
	}
	bad := b
	bad.EfficiencyPPM = 0
	if _, _, okB, okS := bad.Quote(tf, 200_000, 900, PPM); okB || okS {
		t.Errorf("invalid battery quoted")
	}
}

func TestBatteryQuoteProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 3000 {
		floor := unit.Price(rng.Int64N(200_000))
		fee := unit.Price(rng.Int64N(50_000))
		tf := Tariff{Floor: floor, Fee: fee, Ceiling: floor + fee + unit.Price(rng.Int64N(300_000))}
		capacity := unit.Wh(rng.Int64N(20_000))
		b := Battery{Capacity: capacity, SoC: unit.Wh(rng.Int64N(int64(capacity) + 1)), Reserve: unit.Wh(rng.Int64N(int64(capacity) + 1)),
			ChargeW: unit.W(rng.Int64N(10_000)), DischargeW: unit.W(rng.Int64N(10_000)), EfficiencyPPM: 1 + rng.Int64N(PPM)}
		value := unit.Price(rng.Int64N(400_000))
		slotSec := 1 + rng.Int64N(3600)
		prog := rng.Int64N(PPM + 1)
		buy, sell, okB, okS := b.Quote(tf, value, slotSec, prog)
		if okB {
			if err := tf.CheckCurve(buy); err != nil || buy.Side != Buy {
				t.Fatalf("%+v: buy curve %+v: %v", b, buy, err)
			}
			if buy.Energy() > b.Capacity-b.SoC || int64(buy.Energy()) > int64(b.ChargeW)*slotSec/3600 {
				t.Fatalf("%+v: charges %d Wh beyond room or power", b, buy.Energy())
			}
		}
		if okS {
			if err := tf.CheckCurve(sell); err != nil || sell.Side != Sell {
				t.Fatalf("%+v: sell curve %+v: %v", b, sell, err)
			}
			if sell.Energy() > b.SoC-b.Reserve || int64(sell.Energy()) > int64(b.DischargeW)*slotSec/3600 {
				t.Fatalf("%+v: discharges %d Wh beyond charge or power", b, sell.Energy())
			}
			if sell.Steps[0].Price < value {
				t.Fatalf("%+v: sells at %d below value %d", b, sell.Steps[0].Price, value)
			}
		}
		if okB && okS && buy.Steps[0].Price > sell.Steps[0].Price {
			t.Fatalf("%+v: own buy %d above own sell %d", b, buy.Steps[0].Price, sell.Steps[0].Price)
		}
		if okB && okS && buy.Steps[0].Price >= sell.Steps[0].Price+tf.Fee && tf.Fee > 0 {
			t.Fatalf("%+v: own orders cross", b)
		}
	}
}
