package node

import (
	"context"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
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
