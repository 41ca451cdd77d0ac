package chain

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// curveTx signs a curve order of steps; its Energy and Price are the steps'
// total and first price, as the curve rules want.
func curveTx(k key, side market.Side, slot unit.Slot, nonce uint64, steps []CurveStep) Tx {
	o := &Order{Side: side, Slot: slot, Curve: steps}
	for _, st := range steps {
		o.Energy += st.Energy
	}
	if len(steps) > 0 {
		o.Price = steps[0].Price
	}
	return sign(k, Tx{Nonce: nonce, Order: o})
}

// TestCurveRules: each curve rule refuses what it names, in Verify (the
// structural ones) or in the block (the tariff), and Order.Check applies both.
func TestCurveRules(t *testing.T) {
	const s = unit.Slot(10)
	tariff := testGenesis().Tariff
	good := []CurveStep{{300, 250_000}, {200, 200_000}, {100, 150_000}}
	many := make([]CurveStep, MaxCurveSteps+1)
	for i := range many {
		many[i] = CurveStep{Energy: 10, Price: unit.Price(290_000 - 1000*i)}
	}
	tweak := func(f func(o *Order)) Tx {
		tx := curveTx(kAlice, market.Buy, s, 1, append([]CurveStep(nil), good...))
		f(tx.Order)
		return sign(kAlice, tx)
	}
	for _, c := range []struct {
		name string
		tx   Tx
		rule string // "" = valid
		err  error
	}{
		{"a valid buy curve", curveTx(kAlice, market.Buy, s, 1, good), "", nil},
		{"a valid sell curve", curveTx(kAlice, market.Sell, s, 1, []CurveStep{{100, 60_000}, {100, 61_000}}), "", nil},
		{"MaxCurveSteps steps", curveTx(kAlice, market.Buy, s, 1, many[:MaxCurveSteps]), "", nil},
		{"one step", curveTx(kAlice, market.Buy, s, 1, good[:1]), "curve steps", ErrTxShape},
		{"too many steps", curveTx(kAlice, market.Buy, s, 1, many), "curve steps", ErrTxShape},
		{"a step of 0 Wh", tweak(func(o *Order) { o.Curve[1].Energy = 0; o.Energy -= 200 }), "curve energy", ErrTxShape},
		{"steps do not add up", tweak(func(o *Order) { o.Energy++ }), "curve energy", ErrTxShape},
		{"steps overflow", tweak(func(o *Order) { o.Curve[0].Energy, o.Curve[1].Energy = MaxEnergy, MaxEnergy }), "curve energy", ErrTxShape},
		{"price is not the first step's", tweak(func(o *Order) { o.Price = 150_000 }), "curve price", ErrTxShape},
		{"a step price above MaxPrice", tweak(func(o *Order) { o.Curve[0].Price, o.Price = MaxPrice+1, MaxPrice }), "curve price", ErrTxShape},
		{"a negative step price", tweak(func(o *Order) { o.Curve[2].Price = -1 }), "curve price", ErrTxShape},
		{"a buy price that rises", tweak(func(o *Order) { o.Curve[2].Price = 260_000 }), "curve monotone", ErrTxShape},
		{"two equal buy steps", tweak(func(o *Order) { o.Curve[2].Price = 200_000 }), "curve monotone", ErrTxShape},
		{"a sell price that falls", curveTx(kAlice, market.Sell, s, 1, []CurveStep{{100, 90_000}, {100, 80_000}}), "curve monotone", ErrTxShape},
		{"a step above the ceiling", tweak(func(o *Order) { o.Curve[0].Price, o.Price = 310_000, 310_000 }), "price above ceiling", ErrOrderBounds},
		{"a step below the floor", tweak(func(o *Order) { o.Curve[2].Price = 40_000 }), "price below floor", ErrOrderBounds},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.tx.Order.Check(tariff)
			if c.err == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
			} else if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.rule) {
				t.Fatalf("Check = %v, want %v naming %q", err, c.err, c.rule)
			}
			// The chain applies the same rules: Verify the structural ones,
			// the block the tariff.
			ch := openMem(t, testGenesis())
			_, errs := ch.Propose(ms(s, -200), kAuth.acct, []Tx{c.tx})
			if got := errs[0]; (got == nil) != (c.err == nil) || c.err != nil && !errors.Is(got, c.err) {
				t.Fatalf("Propose: tx error %v, want %v", got, c.err)
			}
		})
	}
}

// TestCurveOrderEncoding: a curve order round-trips through the codec, and
// the same order without a curve encodes exactly as before curves (the
// pinned bytes of TestPinnedEncodings).
func TestCurveOrderEncoding(t *testing.T) {
	tx := curveTx(kAlice, market.Buy, 42, 3, []CurveStep{{1000, 200_000}, {500, 120_000}})
	got, err := DecodeTx(tx.Encode())
	if err != nil {
		t.Fatalf("DecodeTx(curve order) = %v", err)
	}
	if !reflect.DeepEqual(got, tx) {
		t.Fatalf("round trip: got %+v, want %+v", got.Order, tx.Order)
	}
	if err := got.Verify(); err != nil {
		t.Fatalf("Verify(curve order) = %v, want nil", err)
	}
	plain := orderTx(kAlice, market.Sell, 42, 1500, 120_000, 3)
	plain.Order.Curve = []CurveStep{}
	if got, want := plain.Hash().String(), "dfcc26346d0a28c943e2ee7f54be276c82832ccc3992c4dc490f25e16d7760ae"; got != want {
		t.Fatalf("plain order with an empty curve: hash %s, want the pinned %s", got, want)
	}
}

// TestCurveOrder: CurveOrder merges equal neighbours and turns one step into
// a plain order.
func TestCurveOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []market.Step
		want Order
	}{
		{"three steps", []market.Step{{Energy: 3, Price: 9}, {Energy: 2, Price: 8}, {Energy: 1, Price: 7}},
			Order{Side: market.Buy, Slot: 5, Energy: 6, Price: 9, Curve: []CurveStep{{3, 9}, {2, 8}, {1, 7}}}},
		{"equal neighbours merged", []market.Step{{Energy: 3, Price: 9}, {Energy: 2, Price: 9}, {Energy: 1, Price: 7}},
			Order{Side: market.Buy, Slot: 5, Energy: 6, Price: 9, Curve: []CurveStep{{5, 9}, {1, 7}}}},
		{"all equal: a plain order", []market.Step{{Energy: 3, Price: 9}, {Energy: 2, Price: 9}},
			Order{Side: market.Buy, Slot: 5, Energy: 5, Price: 9}},
	} {
		got := CurveOrder(market.Curve{Side: market.Buy, Slot: 5, Steps: c.in})
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: CurveOrder = %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestCurveClearing: the chain clears a slot with curve orders exactly as
// market.ClearCurves clears the same book, and its state (orders, records)
// survives a reopen of the store; a slot of plain orders is cleared exactly
// as market.Clear clears it.
func TestCurveClearing(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	g := testGenesis()
	g.Participants = append(g.Participants, kCarol.acct)
	for round := range 20 {
		c := openMem(t, g)
		s := unit.Slot(10 + round)
		var txs []Tx
		var wantOrders []market.Order
		var wantCurves []market.Curve
		for i, k := range []key{kAlice, kBob, kCarol} {
			for j := range 1 + rng.IntN(3) {
				side := market.Side(1 + rng.IntN(2))
				nonce := uint64(10*i + j)
				if round%4 == 0 || rng.IntN(2) == 0 { // every fourth round: plain orders only
					tx := orderTx(k, side, s, unit.Wh(1+rng.IntN(900)), unit.Price(50_000+rng.IntN(250_001)), nonce)
					txs = append(txs, tx)
					o := tx.Order
					wantOrders = append(wantOrders, market.Order{ID: tx.Hash().String(), Owner: string(k.acct), Side: side, Slot: s, Energy: o.Energy, Price: o.Price, Height: 1})
					continue
				}
				steps := randomSteps(rng, side)
				tx := curveTx(k, side, s, nonce, steps)
				txs = append(txs, tx)
				wantCurves = append(wantCurves, market.Curve{ID: tx.Hash().String(), Owner: string(k.acct), Side: side, Slot: s, Height: 1, Steps: marketSteps(steps)})
			}
		}
		produce(t, c, ms(s, -200), txs...)
		orders, curves := c.Book(s)
		if len(orders) != len(wantOrders) || len(curves) != len(wantCurves) {
			t.Fatalf("round %d: Book has %d orders and %d curves, want %d and %d", round, len(orders), len(curves), len(wantOrders), len(wantCurves))
		}
		_, evs := produce(t, c, ms(s, -g.GateLeadSeconds))
		var got market.Result
		for _, e := range evs {
			if sc, ok := e.(SlotCleared); ok && sc.Slot == s {
				got = sc.Result
			}
		}
		want := market.ClearCurves(s, wantOrders, wantCurves, g.Tariff, g.Params)
		if len(wantCurves) == 0 {
			if plain := market.Clear(s, wantOrders, g.Tariff, g.Params); !reflect.DeepEqual(plain, want) {
				t.Fatalf("round %d: Clear and ClearCurves without curves differ", round)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: cleared %+v, want ClearCurves' %+v", round, got, want)
		}
		if res, _ := c.Result(s); !reflect.DeepEqual(res, want) {
			t.Fatalf("round %d: Result = %+v, want %+v", round, res, want)
		}
	}
}

// randomSteps is a valid curve of 2 to 5 steps inside testGenesis's tariff.
func randomSteps(rng *rand.Rand, side market.Side) []CurveStep {
	n := 2 + rng.IntN(4)
	steps := make([]CurveStep, n)
	p := unit.Price(60_000 + rng.IntN(100_000))
	if side == market.Buy {
		p = unit.Price(290_000 - rng.IntN(100_000))
	}
	for i := range steps {
		steps[i] = CurveStep{Energy: unit.Wh(1 + rng.IntN(400)), Price: p}
		d := unit.Price(1 + rng.IntN(30_000))
		if side == market.Buy {
			p -= d
		} else {
			p += d
		}
	}
	return steps
}

// TestCurveStoreReopens: a store with an open curve order reopens (the state
// record with its steps decodes strictly and re-encodes to the same bytes),
// with the same state hash and book.
func TestCurveStoreReopens(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	const s = unit.Slot(10)
	produce(t, c, ms(s, -200), curveTx(kAlice, market.Buy, s, 1, []CurveStep{{300, 250_000}, {200, 200_000}}),
		orderTx(kBob, market.Sell, s, 400, 100_000, 1))
	want := c.Status()
	wantOrders, wantCurves := c.Book(s)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c = openDir(t, dir, g)
	defer c.Close()
	if got := c.Status(); got != want {
		t.Fatalf("reopened status %+v, want %+v", got, want)
	}
	gotOrders, gotCurves := c.Book(s)
	if !reflect.DeepEqual(gotOrders, wantOrders) || !reflect.DeepEqual(gotCurves, wantCurves) || len(gotCurves) != 1 {
		t.Fatalf("reopened book %+v %+v, want %+v %+v (one curve)", gotOrders, gotCurves, wantOrders, wantCurves)
	}
}
