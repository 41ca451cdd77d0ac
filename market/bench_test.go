package market

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridmesh/gridmesh/unit"
)

// benchBook is a seeded slot of n orders, half buys, half sells, with prices
// in a realistic band so that about half the energy crosses.
func benchBook(n int) ([]Order, Tariff) {
	rng := rand.New(rand.NewPCG(42, 42))
	tf := Tariff{Floor: 50_000, Ceiling: 320_000, Fee: 20_000}
	orders := make([]Order, n)
	for i := range orders {
		o := Order{ID: fmt.Sprintf("%064x", rng.Uint64()), Owner: fmt.Sprintf("%064x", rng.IntN(n/4+1)),
			Side: Buy, Slot: 1, Height: uint64(rng.IntN(50)), Energy: 1 + unit.Wh(rng.IntN(5000))}
		o.Price = 100_000 + unit.Price(rng.IntN(200))*1000
		if i%2 == 1 {
			o.Side = Sell
			o.Price -= 40_000
		}
		orders[i] = o
	}
	return orders, tf
}

func BenchmarkClear10k(b *testing.B) {
	orders, tf := benchBook(10_000)
	p := DefaultParams()
	b.ReportAllocs()
	var r Result
	for b.Loop() {
		r = Clear(1, orders, tf, p)
	}
	b.ReportMetric(float64(len(r.Trades)), "trades")
}

func BenchmarkSettle10k(b *testing.B) {
	orders, tf := benchBook(10_000)
	r := Clear(1, orders, tf, DefaultParams())
	m := map[string]Metered{}
	for i, o := range orders {
		if i%3 != 0 {
			m[o.Owner] = Metered{Import: o.Energy, Export: o.Energy / 2}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Settle(1, r.Trades, m, tf, "operator")
	}
}

// BenchmarkIndicativeUpdate is one order arriving in a slot of 10,000 orders
// and the new indicative price, then the order leaving again (steady state).
func BenchmarkIndicativeUpdate(b *testing.B) {
	orders, tf := benchBook(10_001)
	x := NewIndicative(1, tf, DefaultParams())
	for _, o := range orders[:10_000] {
		if err := x.Add(o); err != nil {
			b.Fatal(err)
		}
	}
	o := orders[10_000]
	b.ReportAllocs()
	for b.Loop() {
		if err := x.Add(o); err != nil {
			b.Fatal(err)
		}
		x.Now()
		x.Remove(o.ID)
	}
}
