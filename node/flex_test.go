package node

import (
	"context"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter/sim"
	"github.com/gridmesh/gridmesh/unit"
)

// TestFlexOrder: the flexible load takes the home's own surplus first and
// bids for the rest beside the home's own need, in an order the chain's
// rules accept.
func TestFlexOrder(t *testing.T) {
	tariff := market.Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	strategy := market.Strategy{SellMin: 100_000, BuyMax: 250_000}
	fl := market.Flex{Need: 2_000, SlotsLeft: 4, MaxWh: 925, MaxPrice: 200_000}
	for _, c := range []struct {
		name           string
		imp, exp       unit.Wh
		wantSide       market.Side
		wantEnergy     unit.Wh
		wantHome       unit.Wh
		wantOwn        unit.Wh
		wantCurveSteps bool
	}{
		{"home buys: its step and the load's", 400, 0, market.Buy, 400 + 925, 400, 0, true},
		{"small surplus: the load takes it, bids for the rest", 0, 300, market.Buy, 625, 0, 300, true},
		{"large surplus: the load takes all it may, the home sells the rest", 0, 2_000, market.Sell, 2_000 - 925, 1_075, 925, false},
	} {
		o, home, part, ok := flexOrder(fl, tariff, strategy, c.imp, c.exp, market.PPM)
		if !ok || o.Side != c.wantSide || o.Energy != c.wantEnergy || home != c.wantHome || part.own != c.wantOwn || (len(o.Curve) > 0) != c.wantCurveSteps {
			t.Errorf("%s: got %+v home %d own %d ok %t; want a %s of %d Wh, home %d, own %d, curve %t",
				c.name, o, home, part.own, ok, c.wantSide, c.wantEnergy, c.wantHome, c.wantOwn, c.wantCurveSteps)
			continue
		}
		o.Slot = 5
		if err := o.Check(tariff); err != nil {
			t.Errorf("%s: order %+v: Check = %v, want nil", c.name, o, err)
		}
	}
	if o, _, _, ok := flexOrder(market.Flex{SlotsLeft: 3, MaxWh: 925, MaxPrice: 200_000}, tariff, strategy, 0, 0, market.PPM); ok {
		t.Errorf("nothing needed by anyone: got %+v, want no order", o)
	}
	// A load whose limit is Floor + Fee bids all its steps at it: one step
	// on chain, which the rules accept.
	easy := market.Flex{Need: 10, SlotsLeft: 40, MaxWh: 925, MaxPrice: 100_000}
	if o, _, _, ok := flexOrder(easy, tariff, strategy, 0, 0, market.PPM); !ok || len(o.Curve) != 0 || o.Energy != 10 || o.Price != 100_000 {
		t.Errorf("limit at Floor + Fee: got %+v ok %t, want a plain order of 10 Wh at 100000", o, ok)
	} else if o.Slot = 5; o.Check(tariff) != nil {
		t.Errorf("limit at Floor + Fee: order %+v: Check = %v", o, o.Check(tariff))
	}
	// Near the deadline the must part is bid at the load's limit.
	late := market.Flex{Need: 1_500, SlotsLeft: 1, MaxWh: 925, MaxPrice: 200_000}
	o, _, part, _ := flexOrder(late, tariff, strategy, 0, 0, market.PPM)
	if part.must != 925 || o.Energy != 925 || o.Price != 200_000 {
		t.Errorf("last slot: got %+v must %d, want 925 Wh at 200000 (must 925)", o, part.must)
	}
}

// TestFlexLoad: the simulated load is in its window only between its
// times of day (across midnight too), counts down what it still needs as
// consumption is planned, and the meter shows what it consumed, from the
// home's surplus first.
func TestFlexLoad(t *testing.T) {
	start := time.Unix(1_700_000_000, 0) // the simulator's 10:00
	now := start
	m := sim.New(sim.Config{Seed: 7, PVPeak: 5000, Load: 600, Speed: 1, Start: start}, func() time.Time { return now })
	cfg := config.Flex{EnergyWh: 8_000, MaxPowerW: 3_700, MaxPrice: 200_000, From: "10:00", Until: "16:00", Source: "sim"}
	f := newSimFlex(m, cfg)
	slot := 15 * time.Minute
	fl, window, ok := f.load(now, now.Add(slot), 0)
	if want := (market.Flex{Need: 8_000, SlotsLeft: 24, MaxWh: 925, MaxPrice: 200_000}); !ok || fl != want {
		t.Fatalf("at 10:00: got %+v in %t, want %+v", fl, ok, want)
	}
	if _, _, ok := f.load(now.Add(6*time.Hour), now.Add(6*time.Hour+slot), 0); ok {
		t.Errorf("at 16:00: in the window, want out")
	}
	if fl, _, _ := f.load(now, now.Add(slot), 1_000); fl.Need != 7_000 {
		t.Errorf("with 1000 Wh committed: need %d, want 7000", fl.Need)
	}
	first, _ := f.Read(context.Background())
	alone, _ := m.Read(context.Background())
	if got := f.plan(now, now.Add(slot), window, 600); got != 600 {
		t.Fatalf("planned %d Wh, want 600", got)
	}
	for range 15 {
		now = now.Add(time.Minute)
		if _, err := f.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := f.Read(context.Background())
	aloneLast, _ := m.Read(context.Background())
	extraImp := (last.Import - first.Import) - (aloneLast.Import - alone.Import)
	lessExp := (aloneLast.Export - alone.Export) - (last.Export - first.Export)
	if extraImp+lessExp != 600 || extraImp < 0 || lessExp < 0 {
		t.Errorf("the meter shows %d Wh more import and %d Wh less export; want 600 in all", extraImp, lessExp)
	}
	if fl, _, _ := f.load(now, now.Add(slot), 0); fl.Need != 7_400 || fl.SlotsLeft != 23 {
		t.Errorf("at 10:15 after 600 Wh: got %+v, want need 7400, 23 slots left", fl)
	}
	if got := f.plan(now, now.Add(slot), window, 9_000); got != 7_400 {
		t.Errorf("planning more than needed: got %d Wh, want the 7400 still needed", got)
	}

	night := newSimFlex(m, config.Flex{EnergyWh: 10_000, MaxPowerW: 3_700, MaxPrice: 200_000, From: "22:00", Until: "06:00", Source: "sim"})
	at := start.Add(13 * time.Hour) // 23:00
	if fl, _, ok := night.load(at, at.Add(slot), 0); !ok || fl.SlotsLeft != 28 {
		t.Errorf("at 23:00 in a window to 06:00: got %+v in %t, want 28 slots left", fl, ok)
	}
}
