package chain

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// unitValues expands a book into one value per Wh: bids (a buy's price, fee
// included) and asks (a sell's price plus the fee), each sorted best first.
func unitValues(orders []market.Order, curves []market.Curve, fee unit.Price) (bids, asks []int64) {
	add := func(side market.Side, e unit.Wh, p unit.Price) {
		for range e {
			if side == market.Buy {
				bids = append(bids, int64(p))
			} else {
				asks = append(asks, int64(p+fee))
			}
		}
	}
	for _, o := range orders {
		add(o.Side, o.Energy, o.Price)
	}
	for _, c := range curves {
		for _, st := range c.Steps {
			add(c.Side, st.Energy, st.Price)
		}
	}
	slices.SortFunc(bids, func(a, b int64) int { return int(b - a) })
	slices.Sort(asks)
	return bids, asks
}

// welfareAt is the gains from trade of q Wh: the q highest bids less the q
// lowest asks (in micro-units × Wh per kWh).
func welfareAt(bids, asks []int64, q int) int64 {
	var w int64
	for i := range q {
		w += bids[i] - asks[i]
	}
	return w
}

// TestWelfareWithBatteries: over 100 slots of households, two batteries
// (market.Battery.Quote curves) and a flexible load (a buy curve), placed and
// cleared on chain, every slot's cleared volume reaches the largest gains
// from trade of its on-chain book, found by trying every volume (brute
// force). It reports the gains realised with the batteries and the flexible
// load against the same slots without them (same households, same seed).
// The batteries' state of charge follows a random walk here, not their
// trades: this checks the clearing of books with curves, not a battery's
// schedule.
func TestWelfareWithBatteries(t *testing.T) {
	homes := []key{kAlice, kBob, kCarol}
	for i := range 4 {
		homes = append(homes, newKey(fmt.Sprintf("welfare home %d", i)))
	}
	g := testGenesis()
	g.Participants = nil
	for _, h := range homes {
		g.Participants = append(g.Participants, h.acct)
	}
	var totalWith, totalWithout int64
	for _, batteries := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(100, 14))
		c := openMem(t, g)
		socs := []unit.Wh{5_000, 8_000}
		var realised int64
		for k := range 100 {
			s := unit.Slot(10 + 3*k)
			var txs []Tx
			for i, h := range homes[:4] { // households: PV sellers and buyers
				side := market.Side(1 + (i+k)%2)
				e, p := unit.Wh(50+rng.IntN(600)), unit.Price(60_000+rng.IntN(230_000))
				txs = append(txs, orderTx(h, side, s, e, p, uint64(k)))
			}
			for j := range 2 { // batteries: charge below half full, else discharge
				b := market.Battery{Capacity: 10_000, SoC: socs[j], Reserve: 2_000, ChargeW: 5_000, DischargeW: 5_000, EfficiencyPPM: 900_000}
				buy, sell, okB, okS := b.Quote(g.Tariff, unit.Price(120_000+rng.IntN(100_000)), 900, market.PPM)
				cv, ok := buy, okB
				if socs[j] > 6_000 || !okB {
					cv, ok = sell, okS
				}
				if ok && batteries {
					cv.Slot = s
					o := CurveOrder(cv)
					txs = append(txs, sign(homes[4+j], Tx{Nonce: uint64(k), Order: &o}))
				}
				socs[j] = min(max(socs[j]+unit.Wh(rng.IntN(2001)-1000), 2_000), 10_000)
			}
			if batteries { // a flexible load: 1.5 kWh wanted, more of it the cheaper
				top := unit.Price(200_000 + rng.IntN(90_000))
				fl := Order{Side: market.Buy, Slot: s, Energy: 1500, Price: top,
					Curve: []CurveStep{{500, top}, {500, top - 40_000}, {500, top - 90_000}}}
				txs = append(txs, sign(homes[6], Tx{Nonce: uint64(k), Order: &fl}))
			}
			produce(t, c, ms(s, -200), txs...)
			orders, curves := c.Book(s)
			_, evs := produce(t, c, ms(s, -g.GateLeadSeconds))
			var res market.Result
			for _, e := range evs {
				if sc, ok := e.(SlotCleared); ok && sc.Slot == s {
					res = sc.Result
				}
			}
			bids, asks := unitValues(orders, curves, g.Tariff.Fee)
			best, bestQ := int64(0), 0
			for q := 0; q <= min(len(bids), len(asks)); q++ {
				if w := welfareAt(bids, asks, q); w > best {
					best, bestQ = w, q
				}
			}
			got := welfareAt(bids, asks, int(res.Volume))
			if got != best {
				t.Fatalf("batteries %t, slot %d: cleared %d Wh with gains %d, want the maximum %d (at %d Wh)", batteries, s, res.Volume, got, best, bestQ)
			}
			realised += got
		}
		if batteries {
			totalWith = realised
		} else {
			totalWithout = realised
		}
	}
	// Gains are price × Wh; / 1000 is micro-units of money.
	t.Logf("gains from trade over 100 slots: %d micro-units with batteries and a flexible load, %d without (%d%%); every slot at 100%% of its book's maximum",
		totalWith/1000, totalWithout/1000, totalWith*100/max(totalWithout, 1))
	if totalWith <= totalWithout {
		t.Errorf("gains with batteries and a flexible load %d, want more than without (%d)", totalWith, totalWithout)
	}
}
