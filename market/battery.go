package market

import "github.com/gridmesh/gridmesh/unit"

// Valid reports whether b describes a battery Quote and Dispatch work with:
// 0 <= Reserve <= Capacity, SoC in [0, Capacity], non-negative power limits
// and an efficiency in (0, 10^6].
func (b Battery) Valid() bool {
	return b.Capacity >= 0 && b.Reserve >= 0 && b.Reserve <= b.Capacity && b.SoC >= 0 && b.SoC <= b.Capacity &&
		b.ChargeW >= 0 && b.DischargeW >= 0 && b.EfficiencyPPM > 0 && b.EfficiencyPPM <= PPM
}

// Dispatch runs the battery behind the meter for one period of seconds in
// which the home alone would import imp and export exp Wh: it first charges
// from the export (at most ChargeW over the period, up to Capacity), then
// discharges into the import (at most DischargeW over the period, never below
// Reserve). It returns the battery after the period and what the meter then
// imports and exports. Losses are counted once, on the way out (as in
// Quote): delivering d Wh takes ceil(d / efficiency) Wh of charge, and d is
// at most floor((SoC − Reserve) × efficiency), so SoC stays in
// [min(SoC, Reserve), Capacity]: a battery at or above its reserve never
// leaves [Reserve, Capacity]. An invalid battery, seconds <= 0 or a negative
// energy changes nothing.
func (b Battery) Dispatch(imp, exp unit.Wh, seconds int64) (after Battery, gridImp, gridExp unit.Wh) {
	if !b.Valid() || seconds <= 0 || imp < 0 || exp < 0 {
		return b, imp, exp
	}
	periodWh := func(w unit.W) unit.Wh {
		if int64(w) > int64(MaxEnergy)*3600/seconds {
			return MaxEnergy
		}
		return unit.Wh(int64(w) * seconds / 3600)
	}
	charge := min(exp, b.Capacity-b.SoC, periodWh(b.ChargeW))
	b.SoC += charge
	exp -= charge
	if b.SoC > b.Reserve {
		avail := unit.Wh(int64(b.SoC-b.Reserve) * b.EfficiencyPPM / PPM)
		out := min(imp, avail, periodWh(b.DischargeW))
		drawn := unit.Wh((int64(out)*PPM + b.EfficiencyPPM - 1) / b.EfficiencyPPM)
		b.SoC -= drawn
		imp -= out
	}
	return b, imp, exp
}
