package markettest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// TestPricesExample: the book of market/PRICES.md's example (fee 0.01) has
// its most gains at 600 Wh (35,000 micro-units of money: 0.035), and the
// clearing realises them.
func TestPricesExample(t *testing.T) {
	orders := []market.Order{
		{ID: "ana", Owner: "ana", Side: market.Sell, Energy: 400, Price: 100_000},
		{ID: "ben", Owner: "ben", Side: market.Sell, Energy: 400, Price: 150_000},
		{ID: "cem", Owner: "cem", Side: market.Buy, Energy: 300, Price: 200_000},
		{ID: "dee", Owner: "dee", Side: market.Buy, Energy: 300, Price: 170_000},
		{ID: "eli", Owner: "eli", Side: market.Buy, Energy: 300, Price: 150_000},
	}
	const fee = 10_000
	gains, vol := MaxGains(orders, nil, fee)
	if gains != 35_000_000 || vol != 600 {
		t.Fatalf("MaxGains: got %d at %d Wh, want 35000000 at 600 Wh", gains, vol)
	}
	r := market.Clear(0, orders, market.Tariff{Floor: 50_000, Ceiling: 300_000, Fee: fee}, market.DefaultParams())
	if got, err := Gains(r, orders, nil, fee); err != nil || got != gains {
		t.Fatalf("Gains of the clearing: got %d (%v), want %d", got, err, gains)
	}
	r.Trades[0].Energy += 1_000
	if _, err := Gains(r, orders, nil, fee); err == nil {
		t.Fatal("Gains of a trade beyond its orders' energy: got no error")
	}
}

// TestCurvesReachMaxGains: on random books of orders and curves the
// clearing's trades realise exactly the brute-force maximum.
func TestCurvesReachMaxGains(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 4))
	tf := market.Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 15_000}
	for i := range 300 {
		var orders []market.Order
		var curves []market.Curve
		for j := range rng.IntN(8) {
			orders = append(orders, market.Order{ID: fmt.Sprintf("o%d", j), Owner: fmt.Sprintf("h%d", j), Side: market.Side(1 + rng.IntN(2)),
				Energy: unit.Wh(1 + rng.IntN(800)), Price: unit.Price(50_000 + rng.IntN(250_001))})
		}
		for j := range rng.IntN(4) {
			c := market.Curve{ID: fmt.Sprintf("c%d", j), Owner: fmt.Sprintf("b%d", j), Side: market.Side(1 + rng.IntN(2))}
			p := unit.Price(50_000 + rng.IntN(250_001))
			for range 1 + rng.IntN(4) {
				c.Steps = append(c.Steps, market.Step{Energy: unit.Wh(1 + rng.IntN(500)), Price: p})
				if c.Side == market.Buy {
					p = max(p-unit.Price(rng.IntN(40_000)), 50_000)
				} else {
					p = min(p+unit.Price(rng.IntN(40_000)), 300_000)
				}
			}
			curves = append(curves, c)
		}
		r := market.ClearCurves(0, orders, curves, tf, market.DefaultParams())
		want, _ := MaxGains(orders, curves, tf.Fee)
		if got, err := Gains(r, orders, curves, tf.Fee); err != nil || got != want {
			t.Fatalf("book %d: clearing realises %d (%v), want the maximum %d", i, got, err, want)
		}
	}
}
