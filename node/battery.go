package node

import (
	"context"
	"sync"
	"time"

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

	mu       sync.Mutex
	bat      market.Battery
	started  bool
	lastSim  time.Duration // simulated time of the last inner reading
	lastImp  unit.Wh       // the inner meter's counters then
	lastExp  unit.Wh
	imp, exp unit.Wh // the counters at the grid connection
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
	sim := s.inner.SimTime(r.Time)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.imp, s.exp = r.Import, r.Export
	} else if secs := int64((sim - s.lastSim) / time.Second); secs > 0 && r.Import >= s.lastImp && r.Export >= s.lastExp {
		var gi, ge unit.Wh
		s.bat, gi, ge = s.bat.Dispatch(r.Import-s.lastImp, r.Export-s.lastExp, secs)
		s.imp += gi
		s.exp += ge
		r.Power = unit.W(int64(gi-ge) * 3600 / secs)
		r.Phases[0].Power = r.Power
		if v := r.Phases[0].Voltage; v > 0 {
			r.Phases[0].Current = int64(r.Power) * 1_000_000 / v
		}
	} else if secs <= 0 {
		// Within the same simulated second: nothing moved since.
		r.Import, r.Export = s.imp, s.exp
		return r, nil
	}
	s.lastSim, s.lastImp, s.lastExp = sim, r.Import, r.Export
	r.Import, r.Export = s.imp, s.exp
	return r, nil
}

// Forecast is the simulator's forecast for [from, to) through a copy of the
// battery as it is now (a forecast of a later window ignores what the battery
// does before it starts).
func (s *simBattery) Forecast(from, to time.Time) (imp, exp unit.Wh) {
	imp, exp = s.inner.Forecast(from, to)
	secs := int64((s.inner.SimTime(to) - s.inner.SimTime(from)) / time.Second)
	s.mu.Lock()
	b := s.bat
	s.mu.Unlock()
	_, imp, exp = b.Dispatch(imp, exp, secs)
	return imp, exp
}

// Battery returns the battery now (its state of charge).
func (s *simBattery) Battery() market.Battery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bat
}
