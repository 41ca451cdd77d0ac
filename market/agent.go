package market

import "github.com/gridmesh/gridmesh/unit"

// Strategy holds a homeowner's price limits: the lowest price a seller
// accepts (before fee) and the highest a buyer pays (fee included).
type Strategy struct{ SellMin, BuyMax unit.Price }

// Quote returns the order a home should place for a slot given its forecast
// import and export for that slot, and how far the slot is toward gate
// closure (progressPPM from 0 when the slot opens to 10^6 at gate closure;
// clamped).
//
// Quote is the agent of a PV seller (forecast export) and of a household
// buyer (forecast import); Battery.Quote is the battery's.
//
// Strategy: the home trades its forecast net energy, export − import (it uses
// its own production first), capped at MaxEnergy. No order (ok false) if the
// net is 0, the tariff is invalid, or the homeowner's limit cannot be met
// inside the tariff (SellMin above Ceiling, BuyMax below Floor).
//   - A seller starts at the Ceiling and ramps linearly down to
//     max(SellMin, Floor): price = start − floor((start − end) × progress / 10^6).
//   - A buyer starts at min(Floor + Fee, end) and ramps linearly up to
//     end = min(BuyMax, Ceiling): price = start + floor((end − start) × progress / 10^6).
//
// At progressPPM = 10^6 the price is exactly the homeowner's limit (clamped to
// the tariff), and every price returned passes Tariff.Check.
func Quote(t Tariff, s Strategy, forecastImport, forecastExport unit.Wh, progressPPM int64) (side Side, energy unit.Wh, price unit.Price, ok bool) {
	if t.Validate() != nil {
		return 0, 0, 0, false
	}
	prog := min(max(progressPPM, 0), PPM)
	net := max(forecastExport, 0) - max(forecastImport, 0)
	switch {
	case net > 0:
		if s.SellMin > t.Ceiling {
			return 0, 0, 0, false
		}
		start, end := t.Ceiling, max(s.SellMin, t.Floor)
		return Sell, min(net, MaxEnergy), start - ramp(start-end, prog), true
	case net < 0:
		if s.BuyMax < t.Floor {
			return 0, 0, 0, false
		}
		end := min(s.BuyMax, t.Ceiling)
		start := min(t.Floor+t.Fee, end)
		return Buy, min(-net, MaxEnergy), start + ramp(end-start, prog), true
	}
	return 0, 0, 0, false
}

// ramp is floor(span × prog / 10^6) for span in [0, MaxPrice], prog in [0, 10^6].
func ramp(span unit.Price, prog int64) unit.Price {
	return unit.Price(int64(span) * prog / PPM)
}

// Battery is a home battery as a trading agent. It buys (charges) when energy
// is cheap and sells (discharges) when it is dear, within its state of charge
// and power limits, never selling the reserve.
type Battery struct {
	Capacity      unit.Wh // usable capacity
	SoC           unit.Wh // state of charge now, in [0, Capacity]
	Reserve       unit.Wh // never discharged by trading (backup)
	ChargeW       unit.W  // most charging power
	DischargeW    unit.W  // most discharging power
	EfficiencyPPM int64   // round-trip efficiency in parts per million, in (0, 10^6]
}

// batterySteps is the number of steps of each of the battery's curves, and
// batteryStepPPM how much each step's limit moves (5 %) as the battery fills
// or empties.
const (
	batterySteps   = 3
	batteryStepPPM = 50_000
)

// Quote returns the battery's orders for one slot of slotSeconds as
// price-quantity curves (ID, Owner and Slot left for the caller to set):
// a buy curve to charge and a sell curve to discharge, each present only if
// its energy is positive.
//
// Strategy. value is what the owner reckons a stored kWh is worth (the node
// uses recent clearing prices; the agent does not look). Energy:
//   - charge: min(Capacity − SoC, ChargeW × slotSeconds / 3600) Wh;
//   - discharge: min((SoC − Reserve) × efficiency, DischargeW × slotSeconds / 3600) Wh
//     (losses are counted once, on the way out).
//
// Limits: the battery buys at most value × efficiency (what a kWh bought
// returns when sold at value) and sells at no less than value, so a full cycle
// never loses money and its own buy and sell never cross. Each curve has up
// to three equal steps: the first charge step is bid at the buy limit and
// each further step 5 % lower (a fuller battery wants energy less); the first
// discharge step asks the sell limit and each further step 5 % more. Limits are
// clamped to the tariff, except that a battery never sells below value: with
// value above the Ceiling it does not sell. Like Quote, every step ramps from the tariff bound
// (buy: Floor + Fee, sell: Ceiling) toward its limit as progressPPM goes from
// 0 to 10^6 (gate closure). Integer rule: step limit = limit ∓ floor(limit ×
// k × 5 % ), ramp as in Quote. Invalid tariff or battery: no curves.
func (b Battery) Quote(t Tariff, value unit.Price, slotSeconds, progressPPM int64) (buy, sell Curve, okBuy, okSell bool) {
	if t.Validate() != nil || b.Capacity < 0 || b.SoC < 0 || b.SoC > b.Capacity || b.Reserve < 0 ||
		b.EfficiencyPPM <= 0 || b.EfficiencyPPM > PPM || b.ChargeW < 0 || b.DischargeW < 0 || slotSeconds <= 0 ||
		value < 0 || value > MaxPrice {
		return Curve{}, Curve{}, false, false
	}
	prog := min(max(progressPPM, 0), PPM)
	slotWh := func(w unit.W) unit.Wh {
		if int64(w) > int64(MaxEnergy)*3600/slotSeconds {
			return MaxEnergy
		}
		return min(unit.Wh(int64(w)*slotSeconds/3600), MaxEnergy)
	}
	lo := t.Floor + t.Fee
	charge := min(b.Capacity-b.SoC, slotWh(b.ChargeW))
	if charge > 0 {
		limit := unit.Price(int64(value) * b.EfficiencyPPM / PPM)
		buy = Curve{Side: Buy, Steps: stepsOf(charge)}
		for k := range buy.Steps {
			p := limit - unit.Price(int64(limit)*int64(k)*batteryStepPPM/PPM)
			p = min(max(p, t.Floor), t.Ceiling)
			start := min(lo, p)
			buy.Steps[k].Price = start + ramp(p-start, prog)
		}
		okBuy = true
	}
	avail := unit.Wh(0)
	if b.SoC > b.Reserve {
		avail = unit.Wh(int64(b.SoC-b.Reserve) * b.EfficiencyPPM / PPM)
	}
	discharge := min(avail, slotWh(b.DischargeW))
	if discharge > 0 && value <= t.Ceiling {
		sell = Curve{Side: Sell, Steps: stepsOf(discharge)}
		for k := range sell.Steps {
			p := value + unit.Price(int64(value)*int64(k)*batteryStepPPM/PPM)
			p = min(max(p, t.Floor), t.Ceiling)
			sell.Steps[k].Price = t.Ceiling - ramp(t.Ceiling-p, prog)
		}
		okSell = true
	}
	return buy, sell, okBuy, okSell
}

// stepsOf splits e > 0 into up to batterySteps near-equal steps of at least
// 1 Wh, the larger ones first.
func stepsOf(e unit.Wh) []Step {
	n := unit.Wh(min(batterySteps, int64(e)))
	steps := make([]Step, n)
	for k := range steps {
		steps[k].Energy = e / n
		if unit.Wh(k) < e%n {
			steps[k].Energy++
		}
	}
	return steps
}
