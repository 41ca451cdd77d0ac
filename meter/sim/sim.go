package sim

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// Config configures a simulated meter.
type Config struct {
	Seed   int64
	PVPeak unit.W    // peak PV power on a clear day; <= 0 means no panels
	Load   unit.W    // average household load; < 0 counts as 0
	Speed  int64     // simulated seconds per real second; <= 0 counts as 1
	Start  time.Time // real time at which the simulated clock reads 10:00 of day 0
}

// StartOfDay is the simulated time of day at Config.Start.
const StartOfDay = 10 * time.Hour

// maxSimSeconds caps simulated time (100 years); the clock stops there.
const maxSimSeconds = 100 * 365 * 86400

const (
	startSec = int64(StartOfDay / time.Second)
	ppm      = 1_000_000
)

// Meter is a simulated meter. It is safe for concurrent use.
type Meter struct {
	cfg    Config
	now    func() time.Time
	serial string
	base   [2]int64 // counters at Start, Wh (import, export)
	start  [2]int64 // cumulative Ws from day 0 00:00 to Start

	mu   sync.Mutex
	days [][2]int64 // days[d] = cumulative (import, export) Ws from day 0 00:00 to day d 00:00
	// lastMin and lastCum: the cumulative Ws from day 0 00:00 to the start of
	// absolute minute lastMin, the last one cumAt reached (0: none), so that
	// reading forward within a day continues from there.
	lastMin int64
	lastCum [2]int64
}

// New returns a simulated meter reading the clock now (time.Now if nil).
func New(cfg Config, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	if cfg.PVPeak < 0 {
		cfg.PVPeak = 0
	}
	if cfg.Load < 0 {
		cfg.Load = 0
	}
	m := &Meter{cfg: cfg, now: now, days: [][2]int64{{0, 0}}}
	m.serial = fmt.Sprintf("SIM%08X", uint32(m.hash(chSerial, 0)))
	m.base[0] = 2_000_000 + int64(m.hash(chBase, 0)%10_000_000)
	if cfg.PVPeak > 0 {
		m.base[1] = 500_000 + int64(m.hash(chBase, 1)%3_000_000)
	}
	m.start = m.cumAt(startSec)
	return m
}

// Read returns the counters and power at now(). It never fails; it honours
// ctx only in that a done ctx returns ctx.Err().
func (m *Meter) Read(ctx context.Context) (meter.Reading, error) {
	if err := ctx.Err(); err != nil {
		return meter.Reading{}, err
	}
	t := m.now()
	s := m.simSeconds(t)
	imp, exp := m.counters(s)
	p := m.net(minuteOf(startSec + s))
	// One phase: 230 V with ±2 V of seeded noise, current from power.
	mv := 228_000 + int64(m.hash(chVolt, uint64(minuteOf(startSec+s)))%4_001)
	return meter.Reading{
		Time:   t,
		Import: imp,
		Export: exp,
		Power:  p,
		Serial: m.serial,
		Flags:  meter.Simulated | meter.PhasesValid,
		Phases: [3]meter.Phase{{Voltage: mv, Current: int64(p) * 1_000_000 / mv, Power: p}},
	}, nil
}

// Forecast returns the energy the meter will import and export between the
// real times from and to: exactly the counter deltas Read would show at those
// times (the simulator's forecast is perfect). Zero if to is before from.
func (m *Meter) Forecast(from, to time.Time) (imp, exp unit.Wh) {
	if to.Before(from) {
		return 0, 0
	}
	i0, e0 := m.counters(m.simSeconds(from))
	i1, e1 := m.counters(m.simSeconds(to))
	return i1 - i0, e1 - e0
}

// Power returns the simulated PV production and household load (both >= 0)
// at real time t; net power is load − pv.
func (m *Meter) Power(t time.Time) (pv, load unit.W) {
	min := minuteOf(startSec + m.simSeconds(t))
	return m.pv(min), m.load(min)
}

// SimTime returns the simulated time elapsed since Start at real time t.
func (m *Meter) SimTime(t time.Time) time.Duration {
	return time.Duration(m.simSeconds(t)) * time.Second
}

// simSeconds is floor((t − Start) × Speed) in seconds, clamped to
// [0, maxSimSeconds].
func (m *Meter) simSeconds(t time.Time) int64 {
	d := t.Sub(m.cfg.Start)
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), uint64(m.cfg.Speed))
	if hi >= uint64(time.Second) {
		return maxSimSeconds
	}
	q, _ := bits.Div64(hi, lo, uint64(time.Second))
	if q > maxSimSeconds {
		return maxSimSeconds
	}
	return int64(q)
}

// counters returns the counters s simulated seconds after Start.
func (m *Meter) counters(s int64) (imp, exp unit.Wh) {
	c := m.cumAt(startSec + s)
	return unit.Wh(m.base[0] + (c[0]-m.start[0])/3600), unit.Wh(m.base[1] + (c[1]-m.start[1])/3600)
}

// cumAt returns cumulative (import, export) watt-seconds from day 0 00:00 to
// absolute simulated second a.
func (m *Meter) cumAt(a int64) [2]int64 {
	day := a / 86400
	c := m.dayStart(day)
	min := day * 1440
	end := a / 60
	m.mu.Lock()
	if m.lastMin > min && m.lastMin <= end && m.lastMin/1440 == day {
		min, c = m.lastMin, m.lastCum
	}
	m.mu.Unlock()
	for ; min < end; min++ {
		add(&c, m.net(min), 60)
	}
	m.mu.Lock()
	m.lastMin, m.lastCum = min, c
	m.mu.Unlock()
	add(&c, m.net(min), a-min*60)
	return c
}

func add(c *[2]int64, p unit.W, secs int64) {
	if p > 0 {
		c[0] += int64(p) * secs
	} else {
		c[1] -= int64(p) * secs
	}
}

// dayStart returns days[d], computing and caching the days up to d.
func (m *Meter) dayStart(d int64) [2]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for int64(len(m.days)) <= d {
		n := int64(len(m.days)) - 1
		c := m.days[n]
		for min := n * 1440; min < (n+1)*1440; min++ {
			add(&c, m.net(min), 60)
		}
		m.days = append(m.days, c)
	}
	return m.days[d]
}

func minuteOf(a int64) int64 { return a / 60 }

// net is the net power (load − pv) during absolute simulated minute min.
func (m *Meter) net(min int64) unit.W { return m.load(min) - m.pv(min) }

// pv is the PV power during absolute simulated minute min.
func (m *Meter) pv(min int64) unit.W {
	if m.cfg.PVPeak == 0 {
		return 0
	}
	const sunrise, sunset = 6 * 3600, 20 * 3600
	tod := (min % 1440) * 60
	if tod <= sunrise || tod >= sunset {
		return 0
	}
	x := (tod - sunrise) * ppm / (sunset - sunrise) // 0..1 in ppm
	b := 4 * x * (ppm - x) / ppm                    // 4x(1−x), peak 1 at noon of the arc
	b = b * b / ppm
	cloud := ppm - int64(m.hash(chCloud, uint64(min/15))%400_001)
	noise := 950_000 + int64(m.hash(chPVNoise, uint64(min))%100_001)
	p := int64(m.cfg.PVPeak) * b / ppm
	p = p * cloud / ppm
	p = p * noise / ppm
	return unit.W(p)
}

// load is the household load during absolute simulated minute min.
func (m *Meter) load(min int64) unit.W {
	tod := (min % 1440) * 60
	shape := int64(700_000)
	shape += bump(tod, 7*3600+1800, 5400, 1_200_000)
	shape += bump(tod, 19*3600, 9000, 1_400_000)
	if tod >= 9*3600 && tod < 17*3600 {
		shape += 200_000
	}
	noise := 800_000 + int64(m.hash(chLoadNoise, uint64(min))%400_001)
	l := int64(m.cfg.Load) * shape / ppm
	l = l * noise / ppm
	if m.hash(chAppliance, uint64(min/15))%10 == 0 {
		l += int64(m.cfg.Load)
	}
	return unit.W(l)
}

// bump is a triangle of the given height (ppm) centred at c with half-width hw.
func bump(t, c, hw, height int64) int64 {
	d := t - c
	if d < 0 {
		d = -d
	}
	if d >= hw {
		return 0
	}
	return height * (hw - d) / hw
}

// channels separate the seeded random streams.
const (
	chSerial uint64 = iota + 1
	chBase
	chCloud
	chPVNoise
	chLoadNoise
	chAppliance
	chVolt
)

// hash is a seeded, stateless pseudo-random function: splitmix64's finaliser
// applied over seed, channel and index in turn.
func (m *Meter) hash(ch, i uint64) uint64 {
	return mix(mix(mix(uint64(m.cfg.Seed))+ch) + i)
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
