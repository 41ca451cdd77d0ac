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
