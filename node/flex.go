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
	"github.com/gridmesh/gridmesh/meter/sim"
	"github.com/gridmesh/gridmesh/unit"
)

// simFlex is a flexible load behind a simulated meter ([flex] with source =
// "sim"): an electric car or a heat pump that needs cfg.EnergyWh in every
// daily window of the simulator's clock, from cfg.From until cfg.Until. It
// sits between the simulator and the sampler and adds the consumption the
// agent plans for it (plan) to what the meter at the grid connection sees,
// from the home's own surplus first. Its forecast is the simulator's: the
// load bids for itself (flexOrder). It is safe for concurrent use.
type simFlex struct {
	inner simMeter
	cfg   config.Flex
	from  time.Duration // the window's opening, time of day
	span  time.Duration // the window's length

	mu   sync.Mutex
	grid gridView
	runs []flexRun
	used map[time.Duration]unit.Wh // energy planned in each window, by its opening (simulated time since Start)
}

// flexRun is planned consumption over a simulated interval.
type flexRun struct {
	from, to time.Duration
	left     unit.Wh
}

func newSimFlex(inner simMeter, cfg config.Flex) *simFlex {
	from, _, _ := cfg.Window()
	return &simFlex{inner: inner, cfg: cfg, from: from, span: cfg.Length(), used: map[time.Duration]unit.Wh{}}
}

// Read reads the simulator and returns the grid connection's view: the
// planned consumption of the interval since the last reading is taken from
// the home's export first, the rest imported.
func (f *simFlex) Read(ctx context.Context) (meter.Reading, error) {
	r, err := f.inner.Read(ctx)
	if err != nil {
		return r, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grid.advance(r, f.inner.SimTime(r.Time), func(a, b time.Duration, _ int64, di, de unit.Wh) (unit.Wh, unit.Wh) {
		use := f.consume(a, b)
		fromPV := min(use, de)
		return di + use - fromPV, de - fromPV
	}), nil
}

// consume returns the planned consumption of the simulated interval (a, b]
// and drops the runs that are done. The caller holds mu.
func (f *simFlex) consume(a, b time.Duration) unit.Wh {
	var use unit.Wh
	keep := f.runs[:0]
	for _, r := range f.runs {
		if b <= r.from {
			keep = append(keep, r)
			continue
		}
		e := dueBy(a, b, r.from, r.to, r.left)
		use += e
		r.left -= e
		if r.left > 0 && b < r.to {
			keep = append(keep, r)
		}
	}
	f.runs = keep
	return use
}

// Forecast is the simulator's: the load's own consumption is not in it.
func (f *simFlex) Forecast(from, to time.Time) (imp, exp unit.Wh) { return f.inner.Forecast(from, to) }

// SimTime is the simulator's.
func (f *simFlex) SimTime(t time.Time) time.Duration { return f.inner.SimTime(t) }

// load returns the load as a market.Flex for the slot [from, to) (real
// times) and the opening of its window; ok is false if the slot does not
// start inside a window. committed is energy already promised in the window
// by slots not yet planned.
func (f *simFlex) load(from, to time.Time, committed unit.Wh) (fl market.Flex, window time.Duration, ok bool) {
	start, end := f.inner.SimTime(from), f.inner.SimTime(to)
	slot := end - start
	if slot <= 0 {
		return market.Flex{}, 0, false
	}
	tod := (sim.StartOfDay + start) % (24 * time.Hour)
	into := ((tod-f.from)%(24*time.Hour) + 24*time.Hour) % (24 * time.Hour)
	if into >= f.span {
		return market.Flex{}, 0, false
	}
	window = start - into
	f.mu.Lock()
	used := f.used[window]
	f.mu.Unlock()
	wh := func(w unit.W) unit.Wh { return unit.Wh(int64(w) * int64(slot/time.Second) / 3600) }
	fl = market.Flex{
		Need:      max(f.cfg.EnergyWh-used-committed, 0),
		SlotsLeft: int64((f.span - into + slot - 1) / slot),
		MinWh:     wh(f.cfg.MinPowerW),
		MaxWh:     wh(f.cfg.MaxPowerW),
		MaxPrice:  f.cfg.MaxPrice,
	}
	return fl, window, true
}

// plan consumes e Wh (at most what the window still needs) over the slot
// [from, to) (real times) and counts it against the window.
func (f *simFlex) plan(from, to time.Time, window time.Duration, e unit.Wh) unit.Wh {
	f.mu.Lock()
	defer f.mu.Unlock()
	e = min(e, max(f.cfg.EnergyWh-f.used[window], 0))
	if e <= 0 {
		return 0
	}
	f.used[window] += e
	f.runs = append(f.runs, flexRun{from: f.inner.SimTime(from), to: f.inner.SimTime(to), left: e})
	for w := range f.used {
		if w < window-48*time.Hour {
			delete(f.used, w)
		}
	}
	return e
}

// needNow is what the window open at real time t still needs (0 outside a
// window), for the status.
func (f *simFlex) needNow(t time.Time) unit.Wh {
	fl, _, ok := f.load(t, t.Add(time.Second), 0)
	if !ok {
		return 0
	}
	return fl.Need
}

// flexPart is the flexible load's share of a slot's order.
type flexPart struct {
	window time.Duration // the window's opening (simFlex.load)
	own    unit.Wh       // taken from the home's own surplus
	must   unit.Wh       // taken this slot whatever the price, beyond own
}

// flexOrder returns the home's order for the slot with a flexible load: the
// load first takes what it may this slot from the home's own forecast surplus
// (exp − imp), which the home then does not sell; what it still wants
// (market.Flex.Quote, less that energy from its best-priced steps) joins the
// home's buy order, or is the order if the home needs nothing. It returns the
// home's own part (homeWh) and the load's; ok is false if there is nothing to
// order.
func flexOrder(fl market.Flex, t market.Tariff, s market.Strategy, imp, exp unit.Wh, progress int64) (o chain.Order, homeWh unit.Wh, part flexPart, ok bool) {
	own := min(max(exp-imp, 0), fl.Need, fl.MaxWh)
	part = flexPart{own: own, must: fl.Must() - min(fl.Must(), own)}
	side, energy, price, homeOK := market.Quote(t, s, imp, exp-own, progress)
	curve, flexOK := fl.Quote(t, progress)
	steps := trimSteps(curve.Steps, own)
	if homeOK && side == market.Sell {
		return chain.Order{Side: market.Sell, Energy: energy, Price: price}, energy, part, true
	}
	c := market.Curve{Side: market.Buy}
	if homeOK {
		homeWh = energy
		c.Steps = append(c.Steps, market.Step{Energy: energy, Price: price})
	}
	if flexOK {
		c.Steps = append(c.Steps, steps...)
	}
	if len(c.Steps) == 0 {
		return chain.Order{}, 0, part, false
	}
	slices.SortStableFunc(c.Steps, func(x, y market.Step) int { return cmp.Compare(y.Price, x.Price) })
	if c.Energy() > market.MaxEnergy {
		return chain.Order{}, 0, part, false
	}
	return chain.CurveOrder(c), homeWh, part, true // one step: a plain order
}

// trimSteps removes e Wh from the front of steps (the best prices first).
func trimSteps(steps []market.Step, e unit.Wh) []market.Step {
	out := make([]market.Step, 0, len(steps))
	for _, st := range steps {
		take := min(st.Energy, e)
		e -= take
		if st.Energy -= take; st.Energy > 0 {
			out = append(out, st)
		}
	}
	return out
}
