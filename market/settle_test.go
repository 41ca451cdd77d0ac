package market

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gridmesh/gridmesh/unit"
)

func TestSettleExample(t *testing.T) {
	tf := Tariff{Floor: 0, Ceiling: 1_000_000, Fee: 10_000}
	trades := []Trade{
		{Slot: 3, Buy: "b1", Sell: "s1", Buyer: "B", Seller: "S", Energy: 300, Price: 150_001},
		{Slot: 3, Buy: "b2", Sell: "s1", Buyer: "C", Seller: "S", Energy: 100, Price: 150_001},
		{Slot: 3, Buy: "b2", Sell: "s2", Buyer: "C", Seller: "T", Energy: 200, Price: 150_001},
	}
	// S exported 201 of its 400: shares floor(300*201/400)=150, floor(100*201/400)=50,
	// remainder 1 Wh to the first trade. T has no attestation: delivers nothing.
	// C imported only 100 of 300: shares 33 (+1 remainder) and 66; B did not attest.
	m := map[string]Metered{"S": {Import: 0, Export: 201}, "C": {Import: 100}, "X": {Export: 99}}
	got := Settle(3, trades, m, tf, "op")
	amt := func(e unit.Wh, p unit.Price) unit.Money { return unit.MustAmount(e, p) }
	st := func(tr Trade, e unit.Wh) SettledTrade {
		return SettledTrade{Trade: tr, Settled: e, Paid: amt(e, tr.Price), Received: amt(e, tr.Price-tf.Fee),
			Fee: amt(e, tr.Price) - amt(e, tr.Price-tf.Fee)}
	}
	want := Settlement{
		Slot:   3,
		Trades: []SettledTrade{st(trades[0], 151), st(trades[1], 34), st(trades[2], 0)},
		Energy: 185,
	}
	// B pays 151 Wh × 0.150001 = 22650.151 -> 22650; S gets 151 × 0.140001 = 21140.151 -> 21140.
	// C pays 34 × 0.150001 = 5100.034 -> 5100; S gets 34 × 0.140001 = 4760.034 -> 4760.
	want.Transfers = []Transfer{{"B", -22650}, {"C", -5100}, {"S", 21140 + 4760}, {"op", 1510 + 340}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Settle mismatch (-want +got):\n%s", diff)
	}
	checkSettle(t, 3, trades, m, tf, "op")
}

func TestSettleEdges(t *testing.T) {
	tf := Tariff{Floor: 0, Ceiling: 1_000_000, Fee: 10_000}
	tr := Trade{Slot: 1, Buy: "b", Sell: "s", Buyer: "B", Seller: "S", Energy: 100, Price: 150_000}
	tests := []struct {
		name   string
		trades []Trade
		m      map[string]Metered
		t      Tariff
		want   unit.Wh
	}{
		{"all delivered", []Trade{tr}, map[string]Metered{"S": {Export: 500}, "B": {Import: 500}}, tf, 100},
		{"buyer unattested consumed all", []Trade{tr}, map[string]Metered{"S": {Export: 500}}, tf, 100},
		{"seller unattested delivered nothing", []Trade{tr}, map[string]Metered{"B": {Import: 500}}, tf, 0},
		{"negative meter values are 0", []Trade{tr}, map[string]Metered{"S": {Export: -5}, "B": {Import: -5}}, tf, 0},
		{"invalid tariff settles nothing", []Trade{tr}, map[string]Metered{"S": {Export: 500}}, Tariff{Floor: 2, Ceiling: 1}, 0},
		{"malformed trade settles nothing", []Trade{{Buyer: "B", Seller: "S", Energy: -4, Price: 150_000}},
			map[string]Metered{"S": {Export: 500}}, tf, 0},
		{"price below fee settles nothing", []Trade{{Buyer: "B", Seller: "S", Energy: 4, Price: 9_999}},
			map[string]Metered{"S": {Export: 500}}, tf, 0},
		{"self trade", []Trade{{Buyer: "S", Seller: "S", Energy: 4, Price: 20_000}},
			map[string]Metered{"S": {Export: 500, Import: 1}}, tf, 1},
		{"no trades", nil, nil, tf, 0},
	}
	for _, tt := range tests {
		got := Settle(1, tt.trades, tt.m, tt.t, "op")
		if got.Energy != tt.want {
			t.Errorf("%s: Energy = %d, want %d", tt.name, got.Energy, tt.want)
		}
		if len(got.Trades) != len(tt.trades) {
			t.Errorf("%s: %d settled trades, want %d", tt.name, len(got.Trades), len(tt.trades))
		}
		if tt.want == 0 && got.Transfers != nil {
			t.Errorf("%s: transfers %v, want none", tt.name, got.Transfers)
		}
		if tt.t.Validate() == nil {
			checkSettle(t, 1, tt.trades, tt.m, tt.t, "op")
		}
	}
}

// randomMetered attests some of the owners with values around their trading.
func randomMetered(rng *rand.Rand, orders []Order) map[string]Metered {
	m := make(map[string]Metered)
	for _, o := range orders {
		if rng.IntN(4) == 0 {
			continue
		}
		x := m[o.Owner]
		switch rng.IntN(3) {
		case 0:
			x.Import += o.Energy
			x.Export += o.Energy
		case 1:
			x.Import += unit.Wh(rng.Int64N(int64(o.Energy) + 1))
			x.Export += unit.Wh(rng.Int64N(int64(o.Energy) + 1))
		}
		m[o.Owner] = x
	}
	return m
}

// checkSettle settles trades and checks every invariant: shares follow the
// pro rata rule exactly, money follows unit.Amount, transfers sum to zero.
func checkSettle(t testing.TB, slot unit.Slot, trades []Trade, m map[string]Metered, tf Tariff, op string) Settlement {
	t.Helper()
	s := Settle(slot, trades, m, tf, op)
	if s.Slot != slot || len(s.Trades) != len(trades) {
		t.Fatalf("slot %d, %d trades; want %d, %d", s.Slot, len(s.Trades), slot, len(trades))
	}
	ok := func(tr *Trade) bool {
		return tr.Energy >= 1 && tr.Energy <= MaxEnergy && tr.Price >= tf.Fee && tr.Price <= MaxPrice
	}
	// The pro rata rule, party by party, for both sides.
	var sellShare, buyShare []unit.Wh
	for _, seller := range []bool{true, false} {
		party := func(tr *Trade) string { return tr.Buyer }
		if seller {
			party = func(tr *Trade) string { return tr.Seller }
		}
		limit := func(total unit.Wh, x Metered, found bool) unit.Wh {
			switch {
			case seller && !found:
				return 0
			case seller:
				return min(total, max(x.Export, 0))
			case !found:
				return total
			}
			return min(total, max(x.Import, 0))
		}
		share := refShares(trades, ok, party, func(p string, tot unit.Wh) unit.Wh {
			x, found := m[p]
			return limit(tot, x, found)
		})
		total, sum := map[string]unit.Wh{}, map[string]unit.Wh{}
		for i := range trades {
			if ok(&trades[i]) {
				total[party(&trades[i])] += trades[i].Energy
				sum[party(&trades[i])] += share[i]
			}
		}
		for p, tot := range total {
			x, found := m[p]
			if want := limit(tot, x, found); sum[p] != want {
				t.Fatalf("party %q (seller %v): shares sum %d, want %d", p, seller, sum[p], want)
			}
		}
		if seller {
			sellShare = share
		} else {
			buyShare = share
		}
	}
	for i := range trades {
		if want := min(sellShare[i], buyShare[i]); s.Trades[i].Settled != want {
			t.Fatalf("trade %d: settled %d, want min(seller share %d, buyer share %d)", i, s.Trades[i].Settled, sellShare[i], buyShare[i])
		}
	}
	var energy unit.Wh
	net := map[string]unit.Money{}
	for i, st := range s.Trades {
		tr := trades[i]
		if st.Trade != tr {
			t.Fatalf("trade %d changed: %+v, want %+v", i, st.Trade, tr)
		}
		if st.Settled < 0 || st.Settled > max(tr.Energy, 0) {
			t.Fatalf("trade %d: settled %d of %d", i, st.Settled, tr.Energy)
		}
		if st.Settled > 0 {
			paid, _ := unit.Amount(st.Settled, tr.Price)
			recv, _ := unit.Amount(st.Settled, tr.Price-tf.Fee)
			if st.Paid != paid || st.Received != recv || st.Fee != paid-recv || st.Fee < 0 {
				t.Fatalf("trade %d: paid %d received %d fee %d; want %d %d %d", i, st.Paid, st.Received, st.Fee, paid, recv, paid-recv)
			}
		} else if st.Paid != 0 || st.Received != 0 || st.Fee != 0 {
			t.Fatalf("trade %d: money without energy: %+v", i, st)
		}
		energy += st.Settled
		net[tr.Buyer] -= st.Paid
		net[tr.Seller] += st.Received
		net[op] += st.Fee
	}
	if energy != s.Energy {
		t.Fatalf("Energy = %d, want %d", s.Energy, energy)
	}
	var sum unit.Money
	for i, x := range s.Transfers {
		sum += x.Amount
		if x.Amount == 0 {
			t.Fatalf("zero transfer for %q", x.Account)
		}
		if i > 0 && strings.Compare(s.Transfers[i-1].Account, x.Account) >= 0 {
			t.Fatalf("transfers not sorted: %v", s.Transfers)
		}
		if net[x.Account] != x.Amount {
			t.Fatalf("transfer %q = %d, want %d", x.Account, x.Amount, net[x.Account])
		}
		delete(net, x.Account)
	}
	if sum != 0 {
		t.Fatalf("transfers sum to %d, want 0: %v", sum, s.Transfers)
	}
	for a, v := range net {
		if v != 0 {
			t.Fatalf("account %q missing from transfers (net %d)", a, v)
		}
	}
	// Pure: a second call gives the identical settlement.
	if diff := cmp.Diff(s, Settle(slot, slices.Clone(trades), m, tf, op)); diff != "" {
		t.Fatalf("Settle not deterministic:\n%s", diff)
	}
	return s
}

func TestSettleSellerCapsPerTrade(t *testing.T) {
	// A seller's settled energy never exceeds its export, even with many buyers.
	tf := Tariff{Ceiling: 1_000_000}
	var trades []Trade
	for i := range 7 {
		trades = append(trades, Trade{Buy: fmt.Sprint("b", i), Sell: "s", Buyer: fmt.Sprint("B", i), Seller: "S", Energy: 3, Price: 100})
	}
	s := checkSettle(t, 0, trades, map[string]Metered{"S": {Export: 5}}, tf, "op")
	if s.Energy != 5 {
		t.Errorf("Energy = %d, want 5", s.Energy)
	}
	var got []unit.Wh
	for _, st := range s.Trades {
		got = append(got, st.Settled)
	}
	// floor(3*5/21) = 0 each, remainder 5 to the first five trades.
	if want := []unit.Wh{1, 1, 1, 1, 1, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("settled %v, want %v", got, want)
	}
}

// refShares is the simple reference for the pro rata rule: per party, the
// floor of e × allowed / total in big integers, then the remainder 1 Wh at a
// time to the party's trades in order, starting over while any is left.
func refShares(trades []Trade, ok func(*Trade) bool, party func(*Trade) string, allowed func(string, unit.Wh) unit.Wh) []unit.Wh {
	total := map[string]unit.Wh{}
	for i := range trades {
		if ok(&trades[i]) {
			total[party(&trades[i])] += trades[i].Energy
		}
	}
	share := make([]unit.Wh, len(trades))
	left := map[string]unit.Wh{}
	for p, tot := range total {
		left[p] = allowed(p, tot)
	}
	for i := range trades {
		tr := &trades[i]
		if !ok(tr) {
			continue
		}
		p := party(tr)
		q := new(big.Int).Mul(big.NewInt(int64(tr.Energy)), big.NewInt(int64(allowed(p, total[p]))))
		q.Quo(q, big.NewInt(int64(total[p])))
		share[i] = unit.Wh(q.Int64())
		left[p] -= share[i]
	}
	for progress := true; progress; {
		progress = false
		for i := range trades {
			tr := &trades[i]
			if p := party(tr); ok(tr) && left[p] > 0 && share[i] < tr.Energy {
				share[i]++
				left[p]--
				progress = true
			}
		}
	}
	return share
}
