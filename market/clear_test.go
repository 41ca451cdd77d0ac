package market

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gridmesh/gridmesh/unit"
)

func TestClearExamples(t *testing.T) {
	tf := Tariff{Floor: 0, Ceiling: 1_000_000, Fee: 0}
	fee := Tariff{Floor: 0, Ceiling: 1_000_000, Fee: 10_000}
	b := func(id string, e unit.Wh, p unit.Price) Order {
		return Order{ID: id, Owner: "o" + id, Side: Buy, Slot: 1, Energy: e, Price: p}
	}
	s := func(id string, e unit.Wh, p unit.Price) Order {
		return Order{ID: id, Owner: "o" + id, Side: Sell, Slot: 1, Energy: e, Price: p}
	}
	tr := func(buy, sell string, e unit.Wh, p unit.Price) Trade {
		return Trade{Slot: 1, Buy: buy, Sell: sell, Buyer: "o" + buy, Seller: "o" + sell, Energy: e, Price: p}
	}
	tests := []struct {
		name   string
		t      Tariff
		k      int64
		orders []Order
		want   Result
	}{
		{"issue example", tf, 500_000,
			[]Order{s("a1", 500, 120_000), b("b1", 500, 180_000)},
			Result{Slot: 1, Price: 150_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 150_000)}}},
		{"k=0 prices at the ask", tf, 0,
			[]Order{s("a1", 500, 120_000), b("b1", 500, 180_000)},
			Result{Slot: 1, Price: 120_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 120_000)}}},
		{"k=1 prices at the bid", tf, PPM,
			[]Order{s("a1", 500, 120_000), b("b1", 500, 180_000)},
			Result{Slot: 1, Price: 180_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 180_000)}}},
		{"k clamped", tf, 7 * PPM,
			[]Order{s("a1", 500, 120_000), b("b1", 500, 180_000)},
			Result{Slot: 1, Price: 180_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 180_000)}}},
		{"fee: price between ask+fee and bid, rounded toward the ask", fee, 500_000,
			[]Order{s("a1", 500, 100_000), b("b1", 500, 110_001)},
			Result{Slot: 1, Price: 110_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 110_000)}}},
		{"fee blocks a thin spread", fee, 500_000,
			[]Order{s("a1", 500, 100_000), b("b1", 500, 109_999)},
			Result{Slot: 1}},
		{"zero-gain units still trade", fee, 500_000,
			[]Order{s("a1", 500, 100_000), b("b1", 500, 110_000)},
			Result{Slot: 1, Price: 110_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 110_000)}}},
		{"no cross", tf, 500_000,
			[]Order{s("a1", 500, 200_000), b("b1", 500, 100_000)},
			Result{Slot: 1}},
		{"one-sided", tf, 500_000,
			[]Order{s("a1", 500, 200_000), s("a2", 500, 100_000)},
			Result{Slot: 1}},
		{"empty", tf, 500_000, nil, Result{Slot: 1}},
		{"other slots and malformed orders ignored", tf, 500_000,
			[]Order{s("a1", 500, 120_000), b("b1", 500, 180_000),
				{ID: "x", Side: Buy, Slot: 2, Energy: 500, Price: 900_000},
				{ID: "y", Side: 0, Slot: 1, Energy: 500, Price: 900_000},
				{ID: "z", Side: Buy, Slot: 1, Energy: 0, Price: 900_000},
				{ID: "w", Side: Buy, Slot: 1, Energy: 5, Price: MaxPrice + 1}},
			Result{Slot: 1, Price: 150_000, Volume: 500, Trades: []Trade{tr("b1", "a1", 500, 150_000)}}},
		{"marginal pair sets the price; cheapest first", tf, 500_000,
			[]Order{s("a1", 300, 100_000), s("a2", 300, 140_000), s("a3", 300, 260_000),
				b("b1", 400, 240_000), b("b2", 400, 200_000)},
			// Q=600: b1 400 + b2 200 against a1 300 + a2 300; marginal bid 200000, ask 140000.
			Result{Slot: 1, Price: 170_000, Volume: 600, Trades: []Trade{
				tr("b1", "a1", 300, 170_000), tr("b1", "a2", 100, 170_000), tr("b2", "a2", 200, 170_000)}}},
		{"pro rata at the margin, remainder by canonical order", tf, 500_000,
			[]Order{s("a1", 10, 100_000),
				b("b3", 1, 200_000), b("b1", 1, 200_000), b("b2", 1, 200_000),
				b("c", 20, 200_000)},
			// Level 23 Wh shares 10: floors 0,0,0,8 (=10*20/23), remainder 2 to b1, b2.
			Result{Slot: 1, Price: 150_000, Volume: 10, Trades: []Trade{
				tr("b1", "a1", 1, 150_000), tr("b2", "a1", 1, 150_000), tr("c", "a1", 8, 150_000)}}},
		{"height before id", tf, 500_000,
			[]Order{s("a1", 1, 100_000),
				{ID: "a", Owner: "oa", Side: Buy, Slot: 1, Energy: 1, Price: 200_000, Height: 9},
				{ID: "b", Owner: "ob", Side: Buy, Slot: 1, Energy: 1, Price: 200_000, Height: 3}},
			Result{Slot: 1, Price: 150_000, Volume: 1, Trades: []Trade{
				{Slot: 1, Buy: "b", Sell: "a1", Buyer: "ob", Seller: "oa1", Energy: 1, Price: 150_000}}}},
		{"PRICES.md example", fee, 500_000,
			[]Order{s("ana", 400, 100_000), s("ben", 400, 150_000),
				b("cem", 300, 200_000), b("dee", 300, 170_000), b("eli", 300, 150_000)},
			Result{Slot: 1, Price: 165_000, Volume: 600, Trades: []Trade{
				tr("cem", "ana", 300, 165_000), tr("dee", "ana", 100, 165_000), tr("dee", "ben", 200, 165_000)}}},
		{"invalid tariff clears nothing", Tariff{Floor: 5, Ceiling: 1}, 500_000,
			[]Order{s("a1", 500, 120_000), b("b1", 500, 180_000)},
			Result{Slot: 1}},
	}
	for _, tt := range tests {
		got := Clear(1, tt.orders, tt.t, Params{KPPM: tt.k})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Clear mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestClearVolumeCap(t *testing.T) {
	var orders []Order
	for i := range 120 {
		orders = append(orders,
			Order{ID: fmt.Sprintf("b%03d", i), Side: Buy, Slot: 0, Energy: MaxEnergy, Price: MaxPrice},
			Order{ID: fmt.Sprintf("s%03d", i), Side: Sell, Slot: 0, Energy: MaxEnergy, Price: 0})
	}
	tf := Tariff{Floor: 0, Ceiling: MaxPrice}
	r := Clear(0, orders, tf, DefaultParams())
	if r.Volume != MaxVolume {
		t.Fatalf("Volume = %d, want MaxVolume %d", r.Volume, MaxVolume)
	}
	checkClear(t, 0, orders, tf, DefaultParams(), r)
	st := Settle(0, r.Trades, nil, tf, "op")
	var sum unit.Money
	for _, x := range st.Transfers {
		sum += x.Amount
	}
	if sum != 0 || st.Energy != 0 {
		t.Errorf("unattested sellers: energy %d, sum %d; want 0, 0", st.Energy, sum)
	}
	m := map[string]Metered{"": {Import: MaxVolume, Export: MaxVolume}}
	st = Settle(0, r.Trades, m, tf, "op")
	if st.Energy != MaxVolume {
		t.Errorf("settled %d, want %d", st.Energy, MaxVolume)
	}
}

// refClear is the deliberately simple reference: the gains from trade of
// volume q are (sum of the q highest bid Wh) − (sum of the q lowest ask Wh) −
// fee × q, computed in big integers by visiting every order; it tries every
// candidate volume (0, every partial sum of either side's energies, the cap)
// and returns the largest volume with the largest gains.
func refClear(slot unit.Slot, orders []Order, fee unit.Price) (vol unit.Wh, gains *big.Int) {
	var bids, asks []Order
	for _, o := range orders {
		if o.Slot != slot || !o.wellFormed() {
			continue
		}
		if o.Side == Buy {
			bids = append(bids, o)
		} else {
			asks = append(asks, o)
		}
	}
	slices.SortFunc(bids, func(a, b Order) int { return int(b.Price - a.Price) })
	slices.SortFunc(asks, func(a, b Order) int { return int(a.Price - b.Price) })
	var tb, ta unit.Wh
	for _, o := range bids {
		tb += o.Energy
	}
	for _, o := range asks {
		ta += o.Energy
	}
	top := min(tb, ta, MaxVolume)
	cands := []unit.Wh{0, top}
	for _, side := range [][]Order{bids, asks} {
		var c unit.Wh
		for _, o := range side {
			c += o.Energy
			if c <= top {
				cands = append(cands, c)
			}
		}
	}
	sum := func(side []Order, q unit.Wh) *big.Int {
		s := new(big.Int)
		for _, o := range side {
			take := min(o.Energy, q)
			q -= take
			s.Add(s, new(big.Int).Mul(big.NewInt(int64(take)), big.NewInt(int64(o.Price))))
		}
		return s
	}
	gains = big.NewInt(0)
	for _, q := range cands {
		g := new(big.Int).Sub(sum(bids, q), sum(asks, q))
		g.Sub(g, new(big.Int).Mul(big.NewInt(int64(q)), big.NewInt(int64(fee))))
		if c := g.Cmp(gains); c > 0 || c == 0 && q > vol {
			vol, gains = q, g
		}
	}
	return vol, gains
}

// checkClear checks r = Clear(slot, orders, t, p) against the reference and
// every invariant. Orders must have unique IDs.
func checkClear(t testing.TB, slot unit.Slot, orders []Order, tf Tariff, p Params, r Result) {
	t.Helper()
	byID := make(map[string]Order)
	for _, o := range orders {
		if o.Slot == slot && o.wellFormed() {
			byID[o.ID] = o
		}
	}
	if tf.Validate() != nil {
		if r.Volume != 0 || r.Trades != nil || r.Price != 0 {
			t.Fatalf("invalid tariff cleared %+v", r)
		}
		return
	}
	wantVol, wantGains := refClear(slot, orders, tf.Fee)
	if r.Slot != slot {
		t.Fatalf("Slot = %d, want %d", r.Slot, slot)
	}
	if r.Volume != wantVol {
		t.Fatalf("Volume = %d, want %d (reference)", r.Volume, wantVol)
	}
	if r.Volume == 0 {
		if r.Price != 0 || r.Trades != nil {
			t.Fatalf("no volume but price %d, trades %v", r.Price, r.Trades)
		}
		return
	}
	gains := new(big.Int)
	fill := make(map[string]unit.Wh)
	var vol unit.Wh
	minBid, maxAsk := MaxPrice+1, unit.Price(-1)
	for _, tr := range r.Trades {
		b, okb := byID[tr.Buy]
		s, oks := byID[tr.Sell]
		switch {
		case !okb || !oks || b.Side != Buy || s.Side != Sell:
			t.Fatalf("trade %+v names unknown or wrong-side orders", tr)
		case tr.Buyer != b.Owner || tr.Seller != s.Owner || tr.Slot != slot:
			t.Fatalf("trade %+v: wrong owners or slot", tr)
		case tr.Energy <= 0:
			t.Fatalf("trade %+v: energy not positive", tr)
		case tr.Price != r.Price:
			t.Fatalf("trade %+v: price != slot price %d", tr, r.Price)
		case tr.Price > b.Price:
			t.Fatalf("trade %+v: above bid %d", tr, b.Price)
		case tr.Price-tf.Fee < s.Price:
			t.Fatalf("trade %+v: seller gets %d < ask %d", tr, tr.Price-tf.Fee, s.Price)
		}
		fill[tr.Buy] += tr.Energy
		fill[tr.Sell] += tr.Energy
		vol += tr.Energy
		g := big.NewInt(int64(b.Price - s.Price - tf.Fee))
		gains.Add(gains, g.Mul(g, big.NewInt(int64(tr.Energy))))
		minBid, maxAsk = min(minBid, b.Price), max(maxAsk, s.Price)
	}
	if vol != r.Volume {
		t.Fatalf("sum of trades %d != Volume %d", vol, r.Volume)
	}
	if gains.Cmp(wantGains) != 0 {
		t.Fatalf("gains from trade %v, want %v (reference)", gains, wantGains)
	}
	k := min(max(p.KPPM, 0), PPM)
	if want := maxAsk + tf.Fee + unit.Price(int64(minBid-maxAsk-tf.Fee)*k/PPM); r.Price != want {
		t.Fatalf("price %d, want %d (bid %d, ask %d, k %d)", r.Price, want, minBid, maxAsk, k)
	}
	// Every order within its energy; rationing only at the marginal price,
	// pro rata within 1 Wh.
	for _, side := range []Side{Buy, Sell} {
		marg := minBid
		better := func(p unit.Price) bool { return p > marg }
		if side == Sell {
			marg = maxAsk
			better = func(p unit.Price) bool { return p < marg }
		}
		var full, level unit.Wh
		for _, o := range byID {
			if o.Side != side {
				continue
			}
			if fill[o.ID] > o.Energy {
				t.Fatalf("order %s over-filled: %d > %d", o.ID, fill[o.ID], o.Energy)
			}
			switch {
			case better(o.Price):
				full += o.Energy
				if fill[o.ID] != o.Energy {
					t.Fatalf("%v %s at %d better than margin %d not fully filled: %d", side, o.ID, o.Price, marg, fill[o.ID])
				}
			case o.Price == marg:
				level += o.Energy
			default:
				if fill[o.ID] != 0 {
					t.Fatalf("%v %s at %d beyond margin %d filled %d", side, o.ID, o.Price, marg, fill[o.ID])
				}
			}
		}
		rem := r.Volume - full
		for _, o := range byID {
			if o.Side != side || o.Price != marg {
				continue
			}
			exact := new(big.Int).Mul(big.NewInt(int64(o.Energy)), big.NewInt(int64(rem)))
			exact.Quo(exact, big.NewInt(int64(level)))
			if f := int64(fill[o.ID]); f != exact.Int64() && f != exact.Int64()+1 {
				t.Fatalf("%v %s at margin: fill %d, pro rata floor %v", side, o.ID, f, exact)
			}
		}
	}
}

// randomBook draws a book that exercises ties, one-sided and non-crossing
// books, 1 Wh and 10^9 Wh orders.
func randomBook(rng *rand.Rand) ([]Order, Tariff, Params) {
	tf := Tariff{Floor: 50_000, Ceiling: 350_000}
	switch rng.IntN(4) {
	case 1:
		tf.Fee = 10_000
	case 2:
		tf.Fee = unit.Price(rng.Int64N(60_000))
	case 3:
		tf = Tariff{Floor: 0, Ceiling: MaxPrice, Fee: unit.Price(rng.Int64N(1000))}
	}
	ks := []int64{0, 500_000, PPM, rng.Int64N(PPM + 1)}
	p := Params{KPPM: ks[rng.IntN(len(ks))]}
	nb, ns := rng.IntN(12), rng.IntN(12)
	if rng.IntN(10) == 0 {
		nb = 0
	}
	grid := []unit.Price{tf.Floor, tf.Floor + tf.Fee, 100_000, 120_000, 150_000, 150_001, 200_000, tf.Ceiling}
	shift := unit.Price(0)
	if rng.IntN(8) == 0 { // a book that does not cross
		shift = 1
	}
	var orders []Order
	for i := range nb + ns {
		o := Order{ID: fmt.Sprintf("o%02d", i), Owner: fmt.Sprintf("h%d", rng.IntN(5)), Side: Buy, Slot: 7,
			Height: uint64(rng.IntN(3))}
		if i >= nb {
			o.Side = Sell
		}
		switch rng.IntN(5) {
		case 0:
			o.Energy = 1
		case 1:
			o.Energy = 1_000_000_000
		case 2:
			o.Energy = 1 + unit.Wh(rng.Int64N(int64(MaxEnergy)))
		default:
			o.Energy = 1 + unit.Wh(rng.Int64N(1000))
		}
		if rng.IntN(3) == 0 {
			o.Price = tf.Floor + unit.Price(rng.Int64N(int64(tf.Ceiling-tf.Floor)+1))
		} else {
			o.Price = grid[rng.IntN(len(grid))]
		}
		if shift == 1 { // all sells at the ceiling, all buys at floor + fee: no cross
			o.Price = tf.Floor + tf.Fee
			if o.Side == Sell {
				o.Price = tf.Ceiling
			}
		}
		if rng.IntN(20) == 0 {
			o.Slot = 8 // another slot
		}
		orders = append(orders, o)
	}
	return orders, tf, p
}

func TestClearProperties(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		orders, tf, p := randomBook(rng)
		for _, o := range orders {
			if err := tf.Check(o); err != nil {
				t.Fatalf("book %d: generator made an invalid order %+v: %v", i, o, err)
			}
		}
		r := Clear(7, orders, tf, p)
		checkClear(t, 7, orders, tf, p, r)
		// Shuffled input gives identical output, and the input is untouched.
		shuffled := slices.Clone(orders)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		before := slices.Clone(shuffled)
		if diff := cmp.Diff(r, Clear(7, shuffled, tf, p)); diff != "" {
			t.Fatalf("book %d: shuffled input changed the result (-first +shuffled):\n%s", i, diff)
		}
		if !slices.Equal(before, shuffled) {
			t.Fatalf("book %d: Clear modified its input", i)
		}
		op := "operator"
		if i%2 == 0 {
			op = "h0" // the operator also trades
		}
		checkSettle(t, 7, r.Trades, randomMetered(rng, orders), tf, op)
	}
}
