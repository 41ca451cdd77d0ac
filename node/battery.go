package node

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// simBattery is a home battery behind a simulated meter ([battery] with
// source = "sim"): it sits between the simulator and the sampler, runs
// market.Battery.Dispatch over each reading's energy since the one before
// (charging from the home's surplus, discharging into its deficit, never
// below the reserve), and reports the counters and power the meter at the
// grid connection then sees. The agent's forecast goes through the same
// battery, from its state of charge now, so the home's orders are for what it
// will really import and export. It is safe for concurrent use (the sampler
// reads, the loop forecasts, the status asks for the state of charge).
type simBattery struct {
	inner simMeter

	mu    sync.Mutex
	grid  gridView
	bat   market.Battery
	plans []gridPlan // scheduled grid charging and discharging (the battery's trades)
}

// simMeter is what simBattery needs of the simulator.
type simMeter interface {
	meter.Reader
	forecaster
	SimTime(t time.Time) time.Duration
}

// batteryOf returns the market battery of a [battery] section, at its
// reserve.
func batteryOf(b config.Battery) market.Battery {
	return market.Battery{
		Capacity: b.CapacityWh, SoC: b.ReserveWh, Reserve: b.ReserveWh,
		ChargeW: b.MaxChargeW, DischargeW: b.MaxDischargeW,
		EfficiencyPPM: b.EfficiencyPermille * 1000,
	}
}

func newSimBattery(inner simMeter, b market.Battery) *simBattery {
	return &simBattery{inner: inner, bat: b}
}

// Read reads the simulator and returns the grid connection's view.
func (s *simBattery) Read(ctx context.Context) (meter.Reading, error) {
	r, err := s.inner.Read(ctx)
	if err != nil {
		return r, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grid.advance(r, s.inner.SimTime(r.Time), s.step), nil
}

// step dispatches the battery over the inner meter's import di and export
// de of the simulated interval (a, b] of secs seconds and carries out the
// scheduled trades; it returns the grid connection's import and export.
// The caller holds mu.
func (s *simBattery) step(a, b time.Duration, secs int64, di, de unit.Wh) (gi, ge unit.Wh) {
	before := s.bat.SoC
	// While the battery trades through the grid it does not also serve
	// the home the other way: energy it bought is not spent on the
	// home's load at once, energy it sold not replaced from the home's
	// surplus, so the meter shows the trade (and the attestation with it).
	keepImp, keepExp := unit.Wh(0), unit.Wh(0)
	switch s.trading(a, b) {
	case market.Buy:
		keepImp, di = di, 0
	case market.Sell:
		keepExp, de = de, 0
	}
	s.bat, gi, ge = s.bat.Dispatch(di, de, secs)
	gi, ge = gi+keepImp, ge+keepExp
	charged, discharged := max(s.bat.SoC-before, 0), max(before-s.bat.SoC, 0)
	pi, pe := s.runPlans(a, b, secs, charged, discharged)
	return gi + pi, ge + pe
}

// gridView is what a device between the simulator and the sampler (a
// battery, a flexible load) keeps to turn the simulator's readings into
// those of the meter at the grid connection.
type gridView struct {
	started  bool
	lastSim  time.Duration // simulated time of the last inner reading
	lastImp  unit.Wh       // the inner meter's counters then
	lastExp  unit.Wh
	imp, exp unit.Wh // the counters at the grid connection
}

// advance returns the grid connection's view of the inner reading r, taken
// at simulated time sim. step gets the inner meter's import and export
// since the last reading, over the simulated interval (a, b] of secs
// seconds, and returns the grid's, which the counters add and the power is
// the mean of. A first reading starts the counters at r's; a later one in
// the same simulated second repeats the counters; one whose counters went
// back moves nothing but is the next one's start.
func (g *gridView) advance(r meter.Reading, sim time.Duration, step func(a, b time.Duration, secs int64, di, de unit.Wh) (gi, ge unit.Wh)) meter.Reading {
	if !g.started {
		g.started = true
		g.imp, g.exp = r.Import, r.Export
	} else if secs := int64((sim - g.lastSim) / time.Second); secs > 0 && r.Import >= g.lastImp && r.Export >= g.lastExp {
		gi, ge := step(g.lastSim, sim, secs, r.Import-g.lastImp, r.Export-g.lastExp)
		g.imp += gi
		g.exp += ge
		setGridPower(&r, gi, ge, secs)
	} else if secs <= 0 {
		// Within the same simulated second: nothing moved since.
		r.Import, r.Export = g.imp, g.exp
		return r
	}
	g.lastSim, g.lastImp, g.lastExp = sim, r.Import, r.Export
	r.Import, r.Export = g.imp, g.exp
	return r
}

// setGridPower sets a reading's power (and its first phase's power and
// current) to the mean over secs seconds of what it imported and exported
// from the grid: the meter sees the home with its battery or flexible load.
func setGridPower(r *meter.Reading, imp, exp unit.Wh, secs int64) {
	r.Power = unit.W(int64(imp-exp) * 3600 / secs)
	r.Phases[0].Power = r.Power
	if v := r.Phases[0].Voltage; v > 0 {
		r.Phases[0].Current = int64(r.Power) * 1_000_000 / v
	}
}

// Forecast is the simulator's forecast for [from, to) through a copy of the
// battery as it is now (a forecast of a later window ignores what the battery
// does before it starts).
func (s *simBattery) Forecast(from, to time.Time) (imp, exp unit.Wh) {
	imp, exp = s.inner.Forecast(from, to)
	secs := s.seconds(from, to)
	s.mu.Lock()
	b := s.bat
	s.mu.Unlock()
	_, imp, exp = b.Dispatch(imp, exp, secs)
	return imp, exp
}

// seconds is the simulated length of the real window [from, to): the
// battery's power limits apply in the simulator's time.
func (s *simBattery) seconds(from, to time.Time) int64 {
	return int64((s.inner.SimTime(to) - s.inner.SimTime(from)) / time.Second)
}

// Battery returns the battery now (its state of charge).
func (s *simBattery) Battery() market.Battery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bat
}

// The battery in the market. With a battery, the agent's order for a slot
// is a curve (chain.Order.Curve): the home's own residual need or surplus at
// the ramped price market.Quote gives, and, on the same side, the battery's
// steps from market.Battery.Quote (charge when cheap: lower bids; discharge
// when dear: higher asks), valued at the last clearing price (the tariff's
// middle before any). When the home needs nothing, the battery charges if it
// has room and otherwise offers its charge. What the home's order gets beyond
// its own step is taken to be the battery's (steps fill best price first and
// the home's step is usually the best: its limit is the homeowner's): at the
// slot's start the agent schedules that much grid charging (or discharging
// to the grid) over the slot (schedule), which the simulated battery carries
// out within its limits, and which the meter, and so the attestation, shows.

// batteryCurve returns the order for slot s: the home's quote (side, energy,
// price, ok as market.Quote returned them) joined with the battery's curve of
// that side; homeWh is the home's own part. ok is false if there is nothing to
// order.
func batteryCurve(b market.Battery, t market.Tariff, value unit.Price, slotSeconds, progress int64,
	side market.Side, energy unit.Wh, price unit.Price, homeOK bool) (o chain.Order, homeWh unit.Wh, ok bool) {
	buy, sell, okBuy, okSell := b.Quote(t, value, slotSeconds, progress)
	var c market.Curve
	switch {
	case homeOK && side == market.Buy:
		c = market.Curve{Side: market.Buy, Steps: []market.Step{{Energy: energy, Price: price}}}
		if okBuy {
			c.Steps = append(c.Steps, buy.Steps...)
		}
	case homeOK:
		c = market.Curve{Side: market.Sell, Steps: []market.Step{{Energy: energy, Price: price}}}
		if okSell {
			c.Steps = append(c.Steps, sell.Steps...)
		}
	case okBuy:
		c = buy
	case okSell:
		c = sell
	default:
		return chain.Order{}, 0, false
	}
	if homeOK {
		homeWh = energy
	}
	// Best price first: a buy's highest, a sell's lowest (stable, so the
	// home's step leads its price level).
	slices.SortStableFunc(c.Steps, func(x, y market.Step) int {
		if c.Side == market.Buy {
			return cmp.Compare(y.Price, x.Price)
		}
		return cmp.Compare(x.Price, y.Price)
	})
	if c.Energy() > market.MaxEnergy {
		return chain.Order{}, 0, false
	}
	return chain.CurveOrder(c), homeWh, true
}

// schedule asks the battery to charge (Buy) or discharge (Sell) e Wh more
// through the grid connection, spread over the simulated window [from, to)
// (real times), within its power limits, capacity and reserve; what it
// cannot do is not done.
func (s *simBattery) schedule(from, to time.Time, side market.Side, e unit.Wh) {
	if e <= 0 || !to.After(from) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans = append(s.plans, gridPlan{from: s.inner.SimTime(from), to: s.inner.SimTime(to), side: side, left: e})
}

// trading returns the side of a scheduled trade that overlaps the simulated
// interval (a, b], or 0. The caller holds mu.
func (s *simBattery) trading(a, b time.Duration) market.Side {
	for _, p := range s.plans {
		if p.left > 0 && p.from < b && a < p.to {
			return p.side
		}
	}
	return 0
}

// gridPlan is scheduled grid charging or discharging.
type gridPlan struct {
	from, to time.Duration // simulated
	side     market.Side
	left     unit.Wh
}

// runPlans carries out the scheduled trades over the simulated interval
// (a, b] of secs seconds, after the home's own flows charged and discharged
// the given Wh of the period's power budget; it returns the extra grid import
// and export. The caller holds mu.
func (s *simBattery) runPlans(a, b time.Duration, secs int64, charged, discharged unit.Wh) (imp, exp unit.Wh) {
	keep := s.plans[:0]
	for _, p := range s.plans {
		if b <= p.from {
			keep = append(keep, p)
			continue
		}
		want := dueBy(a, b, p.from, p.to, p.left)
		room := unit.Wh(int64(s.bat.ChargeW)*secs/3600) - charged
		if p.side == market.Buy {
			e := max(min(want, s.bat.Capacity-s.bat.SoC, room), 0)
			s.bat.SoC += e
			imp += e
			p.left -= e
		} else {
			out := max(min(want, unit.Wh(int64(s.bat.DischargeW)*secs/3600)-discharged), 0)
			if s.bat.SoC > s.bat.Reserve {
				out = min(out, unit.Wh(int64(s.bat.SoC-s.bat.Reserve)*s.bat.EfficiencyPPM/market.PPM))
			} else {
				out = 0
			}
			s.bat.SoC -= unit.Wh((int64(out)*market.PPM + s.bat.EfficiencyPPM - 1) / s.bat.EfficiencyPPM)
			exp += out
			p.left -= out
		}
		if p.left > 0 && b < p.to {
			keep = append(keep, p)
		}
	}
	s.plans = keep
	return imp, exp
}

// dueBy is the part of left, what remains of energy planned evenly over
// the simulated interval (from, to], that falls in (a, b]: all of it once
// b reaches to, else the share of (max(a, from), b] in what is left of the
// interval.
func dueBy(a, b, from, to time.Duration, left unit.Wh) unit.Wh {
	lo, hi := max(a, from), min(b, to)
	if hi < to && to > lo {
		return unit.Wh(int64(left) * int64(hi-lo) / int64(to-lo))
	}
	return left
}
