package market

import (
	"math"

	"github.com/gridmesh/gridmesh/unit"
)

// Flex is a flexible load as a trading agent: a load that can shift its
// consumption between slots, such as an electric car that must be charged
// by the morning or a heat pump heating a hot-water tank. It needs Need Wh
// more before its deadline, which is SlotsLeft slots away (this slot
// included), and takes between MinWh and MaxWh in a slot.
type Flex struct {
	Need      unit.Wh    // energy still needed before the deadline
	SlotsLeft int64      // slots before the deadline, this one included (>= 1)
	MinWh     unit.Wh    // what the load takes in every slot of its window, if it still needs it
	MaxWh     unit.Wh    // the most it can take in one slot (its power × the slot's length)
	MaxPrice  unit.Price // the most its owner pays per kWh, fee included
}

// flexSteps is the number of steps of a flexible load's optional part.
const flexSteps = 3

// Must is what the load takes this slot whatever the price: its MinWh, and
// whatever it cannot leave for the later slots (Need − (SlotsLeft − 1) ×
// MaxWh), both capped at Need and MaxWh. An invalid Flex (Valid) needs
// nothing.
func (f Flex) Must() unit.Wh {
	if !f.Valid() {
		return 0
	}
	later := unit.Wh(MaxEnergy)
	if f.SlotsLeft-1 < int64(MaxEnergy/max(f.MaxWh, 1)) {
		later = unit.Wh(f.SlotsLeft-1) * f.MaxWh
	}
	return min(f.Need, f.MaxWh, max(f.MinWh, f.Need-min(f.Need, later)))
}

// Valid reports whether f describes a load Quote works with: Need in [0,
// MaxEnergy], SlotsLeft >= 1, 0 <= MinWh <= MaxWh <= MaxEnergy and MaxPrice in
// [0, MaxPrice].
func (f Flex) Valid() bool {
	return f.Need >= 0 && f.Need <= MaxEnergy && f.SlotsLeft >= 1 && f.MinWh >= 0 && f.MinWh <= f.MaxWh &&
		f.MaxWh <= MaxEnergy && f.MaxPrice >= 0 && f.MaxPrice <= MaxPrice
}

// Quote returns the load's buy curve for one slot (ID, Owner and Slot left
// for the caller to set), ok false if it wants nothing (no need, an invalid
// load or tariff, or a MaxPrice below the Floor).
//
// Strategy. The load's limit is min(MaxPrice, Ceiling). Its first step is
// Must (if any) at the limit: energy it takes anyway, from the utility if
// not from the neighbours. The rest it may take this slot, min(Need, MaxWh)
// − Must, is bid in up to three near-equal steps (larger ones first) at
// falling prices: step k of n at top − floor((top − lo) × k / (n − 1)), so
// the first at top = lo + floor((limit − lo) × u / 10^6) and the last (of
// two or more) at lo, where lo = min(Floor + Fee, limit) and u = Need × 10^6
// / (SlotsLeft × MaxWh), rounded down and at most 10^6, is the share of its
// remaining slots'
// capacity the load needs (u = 1: every slot must run flat out). So a load
// with time to spare bids low for energy it can also take later, and bids
// nearer its limit as its deadline nears. Like Quote, every step ramps from
// min(lo, its price) toward its price as progressPPM goes from 0 to 10^6
// (gate closure); at gate closure the Must step is exactly at the limit.
func (f Flex) Quote(t Tariff, progressPPM int64) (c Curve, ok bool) {
	if t.Validate() != nil || !f.Valid() || f.Need == 0 || f.MaxWh == 0 || f.MaxPrice < t.Floor {
		return Curve{}, false
	}
	prog := min(max(progressPPM, 0), PPM)
	limit := min(f.MaxPrice, t.Ceiling)
	lo := min(t.Floor+t.Fee, limit)
	at := func(p unit.Price) unit.Price { start := min(lo, p); return start + ramp(p-start, prog) }
	c = Curve{Side: Buy}
	must := f.Must()
	if must > 0 {
		c.Steps = append(c.Steps, Step{Energy: must, Price: at(limit)})
	}
	if rest := min(f.Need, f.MaxWh) - must; rest > 0 {
		top := lo + ramp(limit-lo, f.urgency())
		steps := stepsOfN(rest, flexSteps)
		for k := range steps {
			p := top - unit.Price(int64(top-lo)*int64(k)/int64(max(len(steps)-1, 1)))
			steps[k].Price = at(p)
		}
		c.Steps = append(c.Steps, steps...)
	}
	return c, len(c.Steps) > 0
}

// urgency is u = Need / (SlotsLeft × MaxWh) in parts per million, rounded
// down and at most 10^6 (MaxWh > 0).
func (f Flex) urgency() int64 {
	if f.SlotsLeft > math.MaxInt64/int64(f.MaxWh) {
		return 0 // the denominator exceeds Need × 10^6: u rounds to 0
	}
	return min(int64(f.Need)*PPM/(f.SlotsLeft*int64(f.MaxWh)), PPM)
}

// stepsOfN splits e > 0 into up to n near-equal steps of at least 1 Wh, the
// larger ones first.
func stepsOfN(e unit.Wh, n int) []Step {
	k := unit.Wh(min(int64(n), int64(e)))
	steps := make([]Step, k)
	for i := range steps {
		steps[i].Energy = e / k
		if unit.Wh(i) < e%k {
			steps[i].Energy++
		}
	}
	return steps
}
