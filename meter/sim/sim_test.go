package sim

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

var start = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

func cfg(seed int64) Config {
	return Config{Seed: seed, PVPeak: 5000, Load: 800, Speed: 60, Start: start}
}

func readAt(t *testing.T, m *Meter, clock *time.Time, at time.Time) meter.Reading {
	t.Helper()
	*clock = at
	r, err := m.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func TestDeterministic(t *testing.T) {
	var c1, c2, c3 time.Time
	a := New(cfg(7), func() time.Time { return c1 })
	b := New(cfg(7), func() time.Time { return c2 })
	other := New(cfg(8), func() time.Time { return c3 })
	// b reads the times in another order: readings depend only on the time.
	times := []time.Time{start.Add(3 * time.Hour), start, start.Add(90 * time.Second), start.Add(26 * time.Hour)}
	var differ bool
	for i, at := range times {
		ra := readAt(t, a, &c1, at)
		rb := readAt(t, b, &c2, times[len(times)-1-i])
		rb = readAt(t, b, &c2, at)
		if ra != rb {
			t.Errorf("at %v: seed 7 readings differ:\n %+v\n %+v", at, ra, rb)
		}
		if ro := readAt(t, other, &c3, at); ro.Import != ra.Import || ro.Power != ra.Power {
			differ = true
		}
	}
	if !differ {
		t.Error("seeds 7 and 8 give the same readings")
	}
}

// TestEnergyConservation integrates the power profile minute by minute over
// three simulated days (day borders, the cache) and compares with the counters.
func TestEnergyConservation(t *testing.T) {
	var clock time.Time
	m := New(cfg(3), func() time.Time { return clock })
	r0 := readAt(t, m, &clock, start)
	var impWs, expWs int64
	const minutes = 3 * 1440
	for k := range minutes {
		at := start.Add(time.Duration(k) * time.Second) // Speed 60: one real second = one sim minute
		pv, load := m.Power(at)
		if pv < 0 || load < 0 {
			t.Fatalf("minute %d: pv %v, load %v: negative", k, pv, load)
		}
		if net := int64(load - pv); net > 0 {
			impWs += net * 60
		} else {
			expWs -= net * 60
		}
		if k%97 == 0 { // spot-check the counters on the way
			r := readAt(t, m, &clock, start.Add(time.Duration(k)*time.Second))
			if got, want := r.Import-r0.Import, unit.Wh((impWs-max(int64(load-pv), 0)*60)/3600); got != want {
				t.Fatalf("minute %d: import delta %v, want %v", k, got, want)
			}
		}
	}
	r := readAt(t, m, &clock, start.Add(minutes*time.Second))
	if got, want := r.Import-r0.Import, unit.Wh(impWs/3600); got != want {
		t.Errorf("import over 3 days = %v, want %v (integrated)", got, want)
	}
	if got, want := r.Export-r0.Export, unit.Wh(expWs/3600); got != want {
		t.Errorf("export over 3 days = %v, want %v (integrated)", got, want)
	}
	// A household of 800 W average uses about 19.2 kWh a day; check the load
	// profile's daily mean stays near Load.
	var loadSum int64
	for k := range 1440 {
		_, load := m.Power(start.Add(time.Duration(k) * time.Second))
		loadSum += int64(load)
	}
	if mean := loadSum / 1440; mean < 700 || mean > 1000 {
		t.Errorf("mean load over a day = %d W, want about 800", mean)
	}
	t.Logf("3 days: import %v, export %v", r.Import-r0.Import, r.Export-r0.Export)
}

// TestSubSecondNotLost: many reads within one simulated minute add up to the
// same counter as one read at the end (remainders kept in watt-seconds).
func TestSubSecondNotLost(t *testing.T) {
	c := cfg(5)
	c.Speed = 1
	var clock time.Time
	m := New(c, func() time.Time { return clock })
	end := start.Add(10 * time.Minute)
	var last meter.Reading
	for at := start; !at.After(end); at = at.Add(700 * time.Millisecond) {
		r := readAt(t, m, &clock, at)
		if r.Import < last.Import || r.Export < last.Export {
			t.Fatalf("at %v counters went backwards: %+v after %+v", at, r, last)
		}
		last = r
	}
	var clock2 time.Time
	fresh := New(c, func() time.Time { return clock2 })
	if got := readAt(t, fresh, &clock2, last.Time); got != last {
		t.Errorf("fresh meter at %v = %+v, want %+v", last.Time, got, last)
	}
}

func TestDaylight(t *testing.T) {
	m := New(cfg(1), nil)
	sim := func(h, min int) time.Time { // real time at simulated day-0 h:min
		d := time.Duration(h)*time.Hour + time.Duration(min)*time.Minute - StartOfDay
		return start.Add(d / 60)
	}
	if pv, _ := m.Power(start); pv <= 0 {
		t.Errorf("PV at Start (10:00 simulated) = %v, want > 0", pv)
	}
	for _, hm := range [][2]int{{21, 0}, {23, 30}, {27, 0}, {29, 59}} { // 27:00 = day 1 03:00
		if pv, _ := m.Power(sim(hm[0], hm[1])); pv != 0 {
			t.Errorf("PV at %02d:%02d = %v, want 0", hm[0], hm[1], pv)
		}
	}
	if pv, _ := m.Power(sim(13, 0)); pv < 2000 || pv > 5000 {
		t.Errorf("PV at 13:00 = %v, want between 40%% and 100%% of 5000 W", pv)
	}
	if got := m.SimTime(start.Add(time.Minute)); got != time.Hour {
		t.Errorf("SimTime(1 real minute at Speed 60) = %v, want 1h", got)
	}
	if got := m.SimTime(start.Add(-time.Hour)); got != 0 {
		t.Errorf("SimTime before Start = %v, want 0", got)
	}
}

func TestForecast(t *testing.T) {
	var clock time.Time
	m := New(cfg(9), func() time.Time { return clock })
	a, b, c := start.Add(10*time.Second), start.Add(47*time.Second), start.Add(5*time.Minute)
	i1, e1 := m.Forecast(a, b)
	i2, e2 := m.Forecast(b, c)
	i3, e3 := m.Forecast(a, c)
	if i1+i2 != i3 || e1+e2 != e3 {
		t.Errorf("Forecast windows do not add: %v+%v vs %v, %v+%v vs %v", i1, i2, i3, e1, e2, e3)
	}
	ra, rc := readAt(t, m, &clock, a), readAt(t, m, &clock, c)
	if i3 != rc.Import-ra.Import || e3 != rc.Export-ra.Export {
		t.Errorf("Forecast(a, c) = %v, %v; counters moved %v, %v", i3, e3, rc.Import-ra.Import, rc.Export-ra.Export)
	}
	if e3 == 0 {
		t.Error("no export forecast in the late morning with 5 kW of PV")
	}
	if i, e := m.Forecast(c, a); i != 0 || e != 0 {
		t.Errorf("reversed Forecast = %v, %v; want 0, 0", i, e)
	}
}

func TestReadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(cfg(1), nil).Read(ctx); err == nil {
		t.Error("Read with a cancelled context: err = nil")
	}
}

// TestSamplerAcceptsSim runs the simulator's readings through the sampler's
// plausibility checks by appending them to a journal.
func TestJournalAcceptsSim(t *testing.T) {
	var clock time.Time
	m := New(cfg(2), func() time.Time { return clock })
	j, err := meter.OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for k := range 100 {
		if err := j.Append(readAt(t, m, &clock, start.Add(time.Duration(k)*time.Second))); err != nil {
			t.Fatalf("Append reading %d: %v", k, err)
		}
	}
	fi, fe := m.Forecast(start.Add(5*time.Second), start.Add(80*time.Second))
	ji, je, ok := j.Energy(start.Add(5*time.Second), start.Add(80*time.Second))
	if !ok || ji != fi || je != fe {
		t.Errorf("journal Energy = %v, %v, %v; Forecast = %v, %v", ji, je, ok, fi, fe)
	}
}

// TestForecastOrderIndependent reads one meter's forecasts in an order that
// goes forward within days, back, and across days (cumAt continues from the
// minute it last reached) and requires each to equal a fresh meter's.
func TestForecastOrderIndependent(t *testing.T) {
	c := Config{Seed: 7, PVPeak: 5000, Load: 600, Start: start}
	m := New(c, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	at := int64(0)
	for i := range 500 {
		switch rng.IntN(4) {
		case 0:
			at = rng.Int64N(3 * 86400)
		default:
			at += rng.Int64N(2000)
		}
		from := start.Add(time.Duration(at) * time.Second)
		to := from.Add(time.Duration(rng.Int64N(4000)) * time.Second)
		gi, ge := m.Forecast(from, to)
		wi, we := New(c, nil).Forecast(from, to)
		if gi != wi || ge != we {
			t.Fatalf("read %d, %s..%s: got import %d, export %d; a fresh meter: %d, %d", i, from, to, gi, ge, wi, we)
		}
	}
}
