package node

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/meter/sim"
	"github.com/gridmesh/gridmesh/unit"
)

// sunnyDay runs one simulated day (from 00:00, meter/sim seed 7, 5 kW of
// panels, 600 W average load) with the meter read every minute, and returns
// what the meter at the grid connection imported and exported, the energy
// the home's agent bid for (market.Quote on each 15-minute slot's forecast, at
// gate closure) and the lowest and highest state of charge seen. With a nil
// battery the home has none.
func sunnyDay(t *testing.T, bat *market.Battery) (imp, exp, bought unit.Wh, lo, hi unit.Wh) {
	t.Helper()
	start := time.Unix(1_700_000_000, 0)
	now := start.Add(14 * time.Hour) // the simulator's day starts at 10:00: this is 00:00 of day 1
	m := sim.New(sim.Config{Seed: 7, PVPeak: 5000, Load: 600, Speed: 1, Start: start}, func() time.Time { return now })
	var sb *simBattery
	var r meter.Reader = m
	var f forecaster = m
	if bat != nil {
		sb = newSimBattery(m, *bat)
		r, f = sb, sb
	}
	tariff := market.Tariff{Floor: 60_000, Ceiling: 280_000, Fee: 15_000}
	strategy := market.Strategy{SellMin: 90_000, BuyMax: 250_000}
	first, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lo, hi = 1<<62, -1
	for minute := range 24 * 60 {
		if minute%15 == 0 {
			fi, fe := f.Forecast(now, now.Add(15*time.Minute))
			if side, e, _, ok := market.Quote(tariff, strategy, fi, fe, market.PPM); ok && side == market.Buy {
				bought += e
			}
		}
		now = now.Add(time.Minute)
		if _, err := r.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sb != nil {
			soc := sb.Battery().SoC
			lo, hi = min(lo, soc), max(hi, soc)
		}
	}
	last, _ := r.Read(context.Background())
	return last.Import - first.Import, last.Export - first.Export, bought, lo, hi
}

// TestBatteryHomeBuysLess: over a simulated sunny day a home with a 10 kWh
// battery (2 kWh reserve, 5 kW, 90 %) imports less from the grid, and bids
// for less, than the same home without one, and the state of charge never
// leaves [reserve, capacity]. The figures are in README.md (Batteries).
func TestBatteryHomeBuysLess(t *testing.T) {
	cfg := config.Battery{CapacityWh: 10_000, ReserveWh: 2_000, MaxChargeW: 5_000, MaxDischargeW: 5_000, EfficiencyPermille: 900, Source: "sim"}
	b := batteryOf(cfg)
	impNo, expNo, boughtNo, _, _ := sunnyDay(t, nil)
	imp, exp, bought, lo, hi := sunnyDay(t, &b)
	t.Logf("without battery: import %d Wh, export %d Wh, bid for %d Wh", impNo, expNo, boughtNo)
	t.Logf("with battery:    import %d Wh, export %d Wh, bid for %d Wh; SoC %d..%d Wh", imp, exp, bought, lo, hi)
	if imp >= impNo {
		t.Errorf("grid import with a battery: got %d Wh, want less than without one (%d Wh)", imp, impNo)
	}
	if bought >= boughtNo {
		t.Errorf("energy bid for with a battery: got %d Wh, want less than without one (%d Wh)", bought, boughtNo)
	}
	if exp > expNo {
		t.Errorf("grid export with a battery: got %d Wh, want at most without one (%d Wh)", exp, expNo)
	}
	if lo < cfg.ReserveWh || hi > cfg.CapacityWh {
		t.Errorf("state of charge went %d..%d Wh, want within [%d, %d]", lo, hi, cfg.ReserveWh, cfg.CapacityWh)
	}
	if hi == lo {
		t.Errorf("state of charge stayed at %d Wh all day; want the battery used", lo)
	}
}

// TestBatteryCurve: the agent's battery order passes the chain's order rules
// (chain.Order.Check) on both sides and with no home order.
func TestBatteryCurve(t *testing.T) {
	tariff := market.Tariff{Floor: 60_000, Ceiling: 280_000, Fee: 15_000}
	b := market.Battery{Capacity: 10_000, SoC: 5_000, Reserve: 2_000, ChargeW: 5_000, DischargeW: 5_000, EfficiencyPPM: 900_000}
	for _, c := range []struct {
		name     string
		side     market.Side
		e        unit.Wh
		p        unit.Price
		ok       bool
		wantSide market.Side
	}{
		{"home buys", market.Buy, 400, 200_000, true, market.Buy},
		{"home sells", market.Sell, 700, 120_000, true, market.Sell},
		{"home needs nothing", 0, 0, 0, false, market.Buy},
	} {
		for _, prog := range []int64{0, 500_000, market.PPM} {
			o, home, ok := batteryCurve(b, tariff, 180_000, 900, prog, c.side, c.e, c.p, c.ok)
			o.Slot = 3
			if !ok || o.Side != c.wantSide || home != c.e {
				t.Fatalf("%s at %d: got %+v home %d ok %t, want a %s order with home part %d", c.name, prog, o, home, ok, c.wantSide, c.e)
			}
			if err := o.Check(tariff); err != nil {
				t.Errorf("%s at %d: order %+v: Check = %v, want nil", c.name, prog, o, err)
			}
			if o.Energy <= c.e {
				t.Errorf("%s at %d: %d Wh, want more than the home's %d (the battery's steps)", c.name, prog, o.Energy, c.e)
			}
		}
	}
}

// TestBatterySchedule: a scheduled grid charge is carried out over its
// window within the battery's limits, and shows as import at the meter.
func TestBatterySchedule(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	now := start.Add(14 * time.Hour) // 00:00: no sun, only load
	m := sim.New(sim.Config{Seed: 7, PVPeak: 5000, Load: 600, Speed: 1, Start: start}, func() time.Time { return now })
	b := market.Battery{Capacity: 10_000, SoC: 2_000, Reserve: 2_000, ChargeW: 4_000, DischargeW: 4_000, EfficiencyPPM: 900_000}
	sb := newSimBattery(m, b)
	first, _ := sb.Read(context.Background())
	alone, _ := m.Read(context.Background())
	sb.schedule(now, now.Add(15*time.Minute), market.Buy, 600)
	for range 15 {
		now = now.Add(time.Minute)
		if _, err := sb.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := sb.Read(context.Background())
	aloneLast, _ := m.Read(context.Background())
	if got := sb.Battery().SoC; got != 2_600 {
		t.Errorf("SoC after charging 600 Wh from the grid: got %d, want 2600", got)
	}
	if got, want := last.Import-first.Import, aloneLast.Import-alone.Import+600; got != want {
		t.Errorf("import over the slot: got %d Wh, want the home's plus 600 = %d", got, want)
	}
	// Selling more than the battery holds above its reserve stops at the reserve.
	sb.schedule(now, now.Add(15*time.Minute), market.Sell, 5_000)
	for range 15 {
		now = now.Add(time.Minute)
		if _, err := sb.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := sb.Battery().SoC; got < b.Reserve || got > b.Capacity {
			t.Fatalf("SoC %d left [%d, %d] while selling", got, b.Reserve, b.Capacity)
		}
	}
	if got := sb.Battery().SoC; got != b.Reserve {
		t.Errorf("SoC after selling everything: got %d, want the reserve %d", got, b.Reserve)
	}
}

// TestBatteryValue: the battery values a stored kWh at the price of the
// last slot that cleared a trade, not at a later slot's that cleared none,
// and at the middle of the tariff before any trade.
func TestBatteryValue(t *testing.T) {
	paths := demoNet(t, 2, 1, nil)
	n := loaded(t, paths[1])
	a := newAgent(n)
	tariff := n.chain.Tariff().Market()
	if got, want := a.value(tariff), (tariff.Floor+tariff.Ceiling)/2; got != want {
		t.Fatalf("before any trade: value %d, want the middle of the tariff %d", got, want)
	}
	order := func(path string, side market.Side, slot unit.Slot, price unit.Price) chain.Tx {
		key := nodeKey(t, path)
		tx := chain.Tx{ChainID: n.gen.ChainID, Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: uint64(slot)*10 + uint64(side),
			Order: &chain.Order{Side: side, Slot: slot, Energy: 500, Price: price}}
		tx.Sign(key)
		return tx
	}
	g := &n.gen
	commit := func(ms int64, txs ...chain.Tx) {
		t.Helper()
		blk, errs := n.chain.Propose(ms, g.Authorities[0], txs)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.chain.Commit(blk, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Slot 0 trades; slot 1 has orders that do not cross.
	commit(g.OpenAt(0)+10, order(paths[1], market.Sell, 0, tariff.Floor), order(paths[2], market.Buy, 0, tariff.Ceiling))
	commit(g.OpenAt(1)+10, order(paths[1], market.Sell, 1, tariff.Ceiling), order(paths[2], market.Buy, 1, tariff.Floor+tariff.Fee))
	commit(g.GateClosure(1) + 10)
	r0, ok0 := n.chain.Result(0)
	r1, ok1 := n.chain.Result(1)
	if !ok0 || !ok1 || r0.Volume == 0 || r1.Volume != 0 {
		t.Fatalf("setup: slot 0 %+v (%t), slot 1 %+v (%t); want slot 0 traded and slot 1 cleared without a trade", r0, ok0, r1, ok1)
	}
	if got := a.value(tariff); got != r0.Price {
		t.Errorf("after a slot without trades: value %d, want the last traded price %d", got, r0.Price)
	}
}
