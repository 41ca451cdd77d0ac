package chain

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/market/markettest"
	"github.com/gridmesh/gridmesh/unit"
)

// TestWelfareWithBatteries: over 100 slots of households, two batteries
// (market.Battery.Quote curves) and a flexible load (a buy curve), placed and
// cleared on chain, every slot's trades realise the largest gains from trade
// of its on-chain book, found by trying every volume (brute force,
// markettest.MaxGains). It reports the gains realised with the batteries and the flexible
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
			best, bestQ := markettest.MaxGains(orders, curves, g.Tariff.Fee)
			got, err := markettest.Gains(res, orders, curves, g.Tariff.Fee)
			if err != nil || got != best {
				t.Fatalf("batteries %t, slot %d: cleared %d Wh with gains %d (%v), want the maximum %d (at %d Wh)", batteries, s, res.Volume, got, err, best, bestQ)
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
