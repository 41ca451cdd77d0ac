package market

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gridmesh/gridmesh/unit"
)

// TestFlexQuote: a flexible load's curve for hand-worked cases.
func TestFlexQuote(t *testing.T) {
	tf := Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000} // lo = 100000
	for _, c := range []struct {
		name string
		f    Flex
		want []Step
	}{
		// u = 3000 / (8 × 1000) = 37.5 %: top = 100000 + 0.375 × 150000.
		{"time to spare: all optional, low bids", Flex{Need: 3000, SlotsLeft: 8, MaxWh: 1000, MaxPrice: 250_000},
			[]Step{{334, 156_250}, {333, 128_125}, {333, 100_000}}},
		// 2500 Wh in 3 slots of 1000: 500 must come now; u = 833333 ppm.
		{"deadline near: a must part at the limit", Flex{Need: 2500, SlotsLeft: 3, MaxWh: 1000, MaxPrice: 250_000},
			[]Step{{500, 250_000}, {167, 224_999}, {167, 162_500}, {166, 100_000}}},
		{"last slot: all of it at the limit", Flex{Need: 700, SlotsLeft: 1, MaxWh: 1000, MaxPrice: 250_000},
			[]Step{{700, 250_000}}},
		{"a minimum per slot", Flex{Need: 3000, SlotsLeft: 8, MinWh: 200, MaxWh: 1000, MaxPrice: 250_000},
			[]Step{{200, 250_000}, {267, 156_250}, {267, 128_125}, {266, 100_000}}},
		{"limit above the ceiling: the ceiling", Flex{Need: 900, SlotsLeft: 1, MaxWh: 1000, MaxPrice: 400_000},
			[]Step{{900, 300_000}}},
	} {
		got, ok := c.f.Quote(tf, PPM)
		if !ok || got.Side != Buy || !slices.Equal(got.Steps, c.want) {
			t.Errorf("%s: got %+v ok %t, want a buy curve %v", c.name, got, ok, c.want)
		}
	}
	for _, f := range []Flex{
		{Need: 0, SlotsLeft: 3, MaxWh: 1000, MaxPrice: 250_000},                // nothing needed
		{Need: 500, SlotsLeft: 0, MaxWh: 1000, MaxPrice: 250_000},              // past the deadline
		{Need: 500, SlotsLeft: 2, MaxWh: 1000, MaxPrice: 70_000},               // limit below the floor
		{Need: 500, SlotsLeft: 2, MinWh: 2000, MaxWh: 1000, MaxPrice: 250_000}, // min above max
	} {
		if c, ok := f.Quote(tf, PPM); ok {
			t.Errorf("%+v: got %+v, want no curve", f, c)
		}
	}
	// At the opening a step bids no more than lo.
	c, _ := Flex{Need: 2500, SlotsLeft: 3, MaxWh: 1000, MaxPrice: 250_000}.Quote(tf, 0)
	for _, s := range c.Steps {
		if s.Price != 100_000 {
			t.Errorf("at the opening: step %+v, want price 100000 (Floor + Fee)", s)
		}
	}
}

// TestFlexQuoteProperties: on random loads every curve passes the tariff's
// curve check, takes min(Need, MaxWh) in all with Must at the limit first,
// and a load that only ever gets its Must part still has what it needs by
// the deadline whenever it could (Need <= SlotsLeft × MaxWh).
func TestFlexQuoteProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 3))
	for range 3000 {
		floor := unit.Price(rng.IntN(200_000))
		fee := unit.Price(rng.IntN(50_000))
		tf := Tariff{Floor: floor, Ceiling: floor + fee + unit.Price(rng.IntN(300_000)), Fee: fee}
		maxWh := unit.Wh(1 + rng.IntN(5000))
		f := Flex{Need: unit.Wh(rng.IntN(20_000)), SlotsLeft: 1 + rng.Int64N(40), MaxWh: maxWh,
			MinWh: unit.Wh(rng.IntN(int(maxWh) + 1)), MaxPrice: floor + unit.Price(rng.IntN(400_000))}
		feasible := int64(f.Need) <= f.SlotsLeft*int64(f.MaxWh)
		for f.SlotsLeft > 0 {
			c, ok := f.Quote(tf, rng.Int64N(PPM+1))
			if want := f.Need > 0; ok != want {
				t.Fatalf("%+v: ok %t, want %t", f, ok, want)
			}
			if !ok {
				break
			}
			c.ID, c.Owner = "f", "o"
			if err := tf.CheckCurve(c); err != nil {
				t.Fatalf("%+v: curve %+v: %v", f, c, err)
			}
			if got, want := c.Energy(), min(f.Need, f.MaxWh); got != want {
				t.Fatalf("%+v: %d Wh, want min(Need, MaxWh) = %d", f, got, want)
			}
			last, _ := f.Quote(tf, PPM)
			if m := f.Must(); m > 0 && last.Steps[0] != (Step{m, min(f.MaxPrice, tf.Ceiling)}) {
				t.Fatalf("%+v: first step at gate closure %+v, want Must %d at the limit", f, last.Steps[0], m)
			}
			f.Need -= f.Must()
			f.SlotsLeft--
		}
		if feasible && f.Need > 0 {
			t.Fatalf("taking only its Must part, a load still needs %d Wh at its deadline", f.Need)
		}
	}
}
