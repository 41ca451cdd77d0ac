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

// BenchmarkBookMixed runs a seeded stream against a book of at most 4,096
// resting orders: each op cancels the order that last used an ID of the pool
// (a no-op if it has filled meanwhile) and adds a new order under that ID,
// buy or sell with overlapping prices, so most adds trade, many partly.
func BenchmarkBookMixed(b *testing.B) {
	const n, pool = 1 << 16, 1 << 12
	rng := rand.New(rand.NewPCG(11, 12))
	tf := Tariff{Floor: 50_000, Ceiling: 320_000, Fee: 5_000}
	ids := make([]string, pool)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x", rng.Uint64())
	}
	orders := make([]Order, n)
	for i := range orders {
		orders[i] = Order{ID: ids[i%pool], Owner: ids[rng.IntN(pool)], Side: Side(1 + rng.IntN(2)), Slot: 1,
			Energy: 1 + unit.Wh(rng.IntN(2000)), Price: 150_000 + unit.Price(rng.IntN(50))*1_000}
	}
	book := NewBook(1, tf)
	dst := make([]Trade, 0, 256)
	var trades int
	run := func(i int) {
		o := &orders[i%n]
		book.Cancel(o.ID)
		var err error
		if dst, err = book.Add(dst[:0], *o); err != nil {
			b.Fatal(err)
		}
		trades += len(dst)
	}
	for i := range 2 * n { // warm up: nodes, levels and the ID map reach their steady size
		run(i)
	}
	b.ReportAllocs()
	trades = 0
	i := 0
	for b.Loop() {
		run(i)
		i++
	}
	b.ReportMetric(float64(trades)/float64(b.N), "trades/op")
	b.ReportMetric(float64(book.Len()), "resting")
}
