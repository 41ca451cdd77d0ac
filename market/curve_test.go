package market

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gridmesh/gridmesh/unit"
)

func TestCheckCurve(t *testing.T) {
	tf := Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 10_000}
	tests := []struct {
		name string
		c    Curve
		want error
	}{
		{"buy ok", Curve{Side: Buy, Steps: []Step{{100, 200_000}, {100, 200_000}, {50, 90_000}}}, nil},
		{"sell ok", Curve{Side: Sell, Steps: []Step{{100, 60_000}, {100, 90_000}}}, nil},
		{"no steps", Curve{Side: Sell}, ErrCurve},
		{"too many steps", Curve{Side: Sell, Steps: make([]Step, MaxSteps+1)}, ErrCurve},
		{"bad side", Curve{Steps: []Step{{1, 60_000}}}, ErrSide},
		{"buy rising", Curve{Side: Buy, Steps: []Step{{100, 100_000}, {100, 100_001}}}, ErrCurve},
		{"sell falling", Curve{Side: Sell, Steps: []Step{{100, 100_000}, {100, 99_999}}}, ErrCurve},
		{"zero step", Curve{Side: Sell, Steps: []Step{{0, 100_000}}}, ErrEnergyNotPositive},
		{"too much", Curve{Side: Sell, Steps: []Step{{MaxEnergy, 100_000}, {1, 100_000}}}, ErrEnergyTooLarge},
		{"below floor", Curve{Side: Sell, Steps: []Step{{1, 49_999}}}, ErrPriceBelowFloor},
		{"above ceiling", Curve{Side: Buy, Steps: []Step{{1, 300_001}}}, ErrPriceAboveCeiling},
		{"out of bounds", Curve{Side: Buy, Steps: []Step{{1, -1}}}, ErrCurve},
	}
	for _, tt := range tests {
		err := tf.CheckCurve(tt.c)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: CheckCurve = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestClearCurvesExample(t *testing.T) {
	// A battery buys 2 kWh: the first 1000 Wh at up to 0.20, the next at up
	// to 0.12. PV sells 1500 Wh at 0.10 and more at 0.15.
	tf := Tariff{Floor: 50_000, Ceiling: 300_000}
	curves := []Curve{
		{ID: "bat", Owner: "B", Side: Buy, Slot: 1, Steps: []Step{{1000, 200_000}, {1000, 120_000}}},
		{ID: "pv", Owner: "P", Side: Sell, Slot: 1, Steps: []Step{{1500, 100_000}, {1000, 150_000}}},
	}
	got := ClearCurves(1, nil, curves, tf, DefaultParams())
	// 1500 Wh cross: 1000 (0.20 vs 0.10) + 500 (0.12 vs 0.10); marginal pair 0.12/0.10.
	want := Result{Slot: 1, Price: 110_000, Volume: 1500, Trades: []Trade{
		{Slot: 1, Buy: "bat", Sell: "pv", Buyer: "B", Seller: "P", Energy: 1500, Price: 110_000}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ClearCurves mismatch (-want +got):\n%s", diff)
	}
}

// curveValue is what the first e Wh of c are worth at its step prices, × 1000.
func curveValue(c Curve, e unit.Wh) *big.Int {
	v := new(big.Int)
	for _, s := range c.Steps {
		take := min(s.Energy, e)
		e -= take
		v.Add(v, new(big.Int).Mul(big.NewInt(int64(take)), big.NewInt(int64(s.Price))))
	}
	return v
}

func randomCurves(rng *rand.Rand, tf Tariff, n int, prefix string) []Curve {
	var cs []Curve
	for i := range n {
		c := Curve{ID: fmt.Sprintf("%s%02d", prefix, i), Owner: fmt.Sprintf("h%d", rng.IntN(4)), Side: Side(1 + rng.IntN(2)),
			Slot: 7, Height: uint64(rng.IntN(2))}
		var prices []unit.Price
		for range 1 + rng.IntN(4) {
			prices = append(prices, tf.Floor+unit.Price(rng.IntN(6))*unit.Price((tf.Ceiling-tf.Floor)/5))
		}
		slices.Sort(prices)
		if c.Side == Buy {
			slices.Reverse(prices)
		}
		for _, p := range prices {
			e := 1 + unit.Wh(rng.IntN(1000))
			if rng.IntN(8) == 0 {
				e = 1_000_000_000
			}
			c.Steps = append(c.Steps, Step{Energy: e, Price: p})
		}
		cs = append(cs, c)
	}
	return cs
}

func TestClearCurvesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 2000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		orders, tf, p := randomBook(rng)
		curves := randomCurves(rng, tf, rng.IntN(6), "c")
		for _, c := range curves {
			if err := tf.CheckCurve(c); err != nil {
				t.Fatalf("generator made an invalid curve %+v: %v", c, err)
			}
		}
		r, expanded := checkCurves(t, orders, curves, tf, p)
		// Any order of the inputs gives the same result.
		so, sc := slices.Clone(orders), slices.Clone(curves)
		rng.Shuffle(len(so), func(a, b int) { so[a], so[b] = so[b], so[a] })
		rng.Shuffle(len(sc), func(a, b int) { sc[a], sc[b] = sc[b], sc[a] })
		if diff := cmp.Diff(r, ClearCurves(7, so, sc, tf, p)); diff != "" {
			t.Fatalf("book %d: shuffled input changed the result:\n%s", i, diff)
		}
		checkSettle(t, 7, r.Trades, randomMetered(rng, expanded), tf, "operator")
	}
}

// checkCurves checks ClearCurves on slot 7 against Clear on the same book
// with every step as an order of its own, and returns the result.
func checkCurves(t testing.TB, orders []Order, curves []Curve, tf Tariff, p Params) (Result, []Order) {
	t.Helper()
	r := ClearCurves(7, orders, curves, tf, p)
	// The same book with every step as an order of its own.
	expanded := slices.Clone(orders)
	for _, c := range curves {
		for j, s := range c.Steps {
			expanded = append(expanded, Order{ID: fmt.Sprintf("%s#%d", c.ID, j), Owner: c.Owner, Side: c.Side,
				Slot: c.Slot, Energy: s.Energy, Price: s.Price, Height: c.Height})
		}
	}
	flat := Clear(7, expanded, tf, p)
	if r.Volume != flat.Volume || r.Price != flat.Price {
		t.Fatalf("curves clear %d Wh at %d, as orders %d Wh at %d", r.Volume, r.Price, flat.Volume, flat.Price)
	}
	_, wantGains := refClear(7, expanded, tf.Fee)
	byID := map[string]Curve{}
	for _, o := range orders {
		if o.Slot == 7 {
			byID[o.ID] = Curve{ID: o.ID, Owner: o.Owner, Side: o.Side, Steps: []Step{{o.Energy, o.Price}}}
		}
	}
	for _, c := range curves {
		byID[c.ID] = c
	}
	fill := map[string]unit.Wh{}
	seen := map[[2]string]bool{}
	var vol unit.Wh
	for _, tr := range r.Trades {
		if seen[[2]string{tr.Buy, tr.Sell}] {
			t.Fatalf("pair %s/%s traded twice", tr.Buy, tr.Sell)
		}
		seen[[2]string{tr.Buy, tr.Sell}] = true
		if tr.Price != r.Price || tr.Energy <= 0 || byID[tr.Buy].Side != Buy || byID[tr.Sell].Side != Sell ||
			tr.Buyer != byID[tr.Buy].Owner || tr.Seller != byID[tr.Sell].Owner {
			t.Fatalf("bad trade %+v", tr)
		}
		fill[tr.Buy] += tr.Energy
		fill[tr.Sell] += tr.Energy
		vol += tr.Energy
	}
	if vol != r.Volume {
		t.Fatalf("trades sum to %d, volume %d", vol, r.Volume)
	}
	gains := new(big.Int)
	for id, f := range fill {
		c := byID[id]
		if f > c.Energy() {
			t.Fatalf("%s over-filled: %d > %d", id, f, c.Energy())
		}
		// The last step a fill reaches is within the uniform price.
		var cum unit.Wh
		for _, s := range c.Steps {
			if cum >= f {
				break
			}
			cum += s.Energy
			if c.Side == Buy && s.Price < r.Price || c.Side == Sell && s.Price+tf.Fee > r.Price {
				t.Fatalf("%v %s filled %d Wh at %d through a step at %d", c.Side, id, f, r.Price, s.Price)
			}
		}
		if c.Side == Buy {
			gains.Add(gains, curveValue(c, f))
		} else {
			gains.Sub(gains, curveValue(c, f))
		}
	}
	gains.Sub(gains, new(big.Int).Mul(big.NewInt(int64(r.Volume)), big.NewInt(int64(tf.Fee))))
	if gains.Cmp(wantGains) != 0 {
		t.Fatalf("gains %v, want %v", gains, wantGains)
	}
	return r, expanded
}
