package market

import (
	"math/rand/v2"
	"testing"

	"github.com/gridmesh/gridmesh/unit"
)

func TestBatteryDispatch(t *testing.T) {
	b := Battery{Capacity: 10_000, SoC: 2_000, Reserve: 2_000, ChargeW: 4_000, DischargeW: 4_000, EfficiencyPPM: 900_000}
	for _, c := range []struct {
		name             string
		soc              unit.Wh
		imp, exp         unit.Wh
		wantSoC          unit.Wh
		wantImp, wantExp unit.Wh
	}{
		{"surplus charges, limited by power", 2_000, 0, 1_500, 3_000, 0, 500},        // 4 kW × 15 min = 1 kWh
		{"surplus charges, limited by capacity", 9_800, 0, 500, 10_000, 0, 300},      // room 200 Wh
		{"deficit discharges with losses", 5_000, 600, 0, 5_000 - 667, 0, 0},         // 600 / 0.9 rounded up
		{"deficit, never below the reserve", 2_450, 1_000, 0, 2_000, 1_000 - 405, 0}, // floor(450 × 0.9) out, drawing 450
		{"at the reserve: nothing out", 2_000, 800, 0, 2_000, 800, 0},
	} {
		b.SoC = c.soc
		got, imp, exp := b.Dispatch(c.imp, c.exp, 900)
		if got.SoC != c.wantSoC || imp != c.wantImp || exp != c.wantExp {
			t.Errorf("%s: got SoC %d, grid %d/%d; want SoC %d, grid %d/%d", c.name, got.SoC, imp, exp, c.wantSoC, c.wantImp, c.wantExp)
		}
	}
}

// TestBatteryDispatchBounds: over random periods a battery that starts in
// [Reserve, Capacity] never leaves it, and never makes the home import or
// export more than it would alone.
func TestBatteryDispatchBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	for range 2000 {
		capacity := unit.Wh(1 + rng.IntN(20_000))
		reserve := unit.Wh(rng.IntN(int(capacity) + 1))
		b := Battery{Capacity: capacity, Reserve: reserve, SoC: reserve + unit.Wh(rng.IntN(int(capacity-reserve)+1)),
			ChargeW: unit.W(rng.IntN(10_000)), DischargeW: unit.W(rng.IntN(10_000)), EfficiencyPPM: 1 + rng.Int64N(PPM)}
		for range 50 {
			imp, exp := unit.Wh(rng.IntN(3_000)), unit.Wh(rng.IntN(3_000))
			after, gi, ge := b.Dispatch(imp, exp, 60+rng.Int64N(3600))
			if after.SoC < after.Reserve || after.SoC > after.Capacity {
				t.Fatalf("%+v: SoC %d left [%d, %d]", b, after.SoC, after.Reserve, after.Capacity)
			}
			if gi < 0 || ge < 0 || gi > imp || ge > exp {
				t.Fatalf("%+v with %d/%d: grid %d/%d, want within [0, alone]", b, imp, exp, gi, ge)
			}
			b = after
		}
	}
}
