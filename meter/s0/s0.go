package s0

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// Defaults and limits.
const (
	MinDebounce         = 30 * time.Millisecond
	DefaultDebounce     = 30 * time.Millisecond
	DefaultPoll         = 100 * time.Millisecond
	DefaultSaveEvery    = 100
	DefaultSaveInterval = 5 * time.Minute
	MaxImpulses         = 1_000_000
)

// Config configures a Meter. Import and Impulses are required.
type Config struct {
	Import gpio.PinIn // import (consumption) pulses; required
	Export gpio.PinIn // export (feed-in) pulses; nil: no export counter

	Impulses int // impulses per kWh (meter constant), 1..MaxImpulses

	// Active is the level of a pulse. Zero value gpio.Low: the S0 transistor
	// pulls the line low against the pull-up.
	Active gpio.Level
	// Pull is the pin's pull resistor; the zero value (gpio.PullNoChange) is
	// replaced by gpio.PullUp when Active is Low and gpio.PullDown when
	// Active is High. Set gpio.Float when an external resistor pulls the line.
	Pull gpio.Pull

	Debounce time.Duration // a level counts once held this long; default and minimum 30 ms
	Poll     time.Duration // WaitForEdge timeout; default 100 ms

	StateFile    string        // counters persisted here; "" keeps them in memory only
	SaveEvery    int           // pulses between saves; default 100
	SaveInterval time.Duration // longest time an unsaved pulse waits; default 5 min

	Serial string           // Reading.Serial; default "s0:" + the import pin's name
	Now    func() time.Time // clock; time.Now if nil
}

// Errors.
var (
	ErrConfig = errors.New("s0: invalid config")
	ErrState  = errors.New("s0: bad state file")
)

// Meter counts pulses on one or two pins. Run counts; Read reports.
type Meter struct {
	cfg   Config
	now   func() time.Time
	perWh int64 // remainder units (1/Impulses Wh) per pulse: 1000
	kWns  int64 // energy per pulse in W·ns: 3.6e15 / Impulses

	saveMu sync.Mutex // serialises state file writes

	mu        sync.Mutex
	ch        [2]channel // import, export
	unsaved   int        // pulses since the last save
	firstDirt time.Time  // time of the first unsaved pulse
	saveErr   error
	edges     uint64 // raw edges seen
}

// channel is one direction's counter.
type channel struct {
	wh     unit.Wh
	rem    int64     // in 1/Impulses Wh, 0 <= rem < Impulses
	pulses uint64    // pulses counted since New
	last   time.Time // time of the last pulse
	prev   time.Time // time of the pulse before
}

// Stats are counters for diagnostics.
type Stats struct {
	ImportPulses, ExportPulses uint64 // counted since New
	Edges                      uint64 // raw edges seen, bounce included
	SaveError                  string // last failed save, "" if the last save worked
}

// New checks cfg, loads the state file if there is one, and configures the
// pins as inputs with edge detection. Call Run to count.
func New(cfg Config) (*Meter, error) {
	if cfg.Import == nil {
		return nil, fmt.Errorf("%w: no import pin", ErrConfig)
	}
	if cfg.Export != nil && cfg.Export.Name() == cfg.Import.Name() {
		return nil, fmt.Errorf("%w: import and export on the same pin %s", ErrConfig, cfg.Import.Name())
	}
	if cfg.Impulses <= 0 || cfg.Impulses > MaxImpulses {
		return nil, fmt.Errorf("%w: impulses per kWh %d, want 1..%d", ErrConfig, cfg.Impulses, MaxImpulses)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Debounce < MinDebounce {
		return nil, fmt.Errorf("%w: debounce %v below %v", ErrConfig, cfg.Debounce, MinDebounce)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = DefaultSaveEvery
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = DefaultSaveInterval
	}
	if cfg.Pull == gpio.PullNoChange {
		cfg.Pull = gpio.PullUp
		if cfg.Active == gpio.High {
			cfg.Pull = gpio.PullDown
		}
	}
	if cfg.Serial == "" {
		cfg.Serial = "s0:" + cfg.Import.Name()
	}
	if len(cfg.Serial) > meter.MaxSerial {
		return nil, fmt.Errorf("%w: serial longer than %d bytes", ErrConfig, meter.MaxSerial)
	}
	m := &Meter{
		cfg:   cfg,
		now:   cfg.Now,
		perWh: 1000,
		kWns:  3_600_000_000_000_000 / int64(cfg.Impulses),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if cfg.StateFile != "" {
		st, err := loadState(cfg.StateFile)
		if err != nil {
			return nil, err
		}
		if st != nil {
			m.ch[0].wh, m.ch[0].rem = st.Import.WhUnits(st.Impulses, cfg.Impulses)
			m.ch[1].wh, m.ch[1].rem = st.Export.WhUnits(st.Impulses, cfg.Impulses)
		}
	}
	for i, p := range m.pins() {
		if p == nil {
			continue
		}
		if err := p.In(cfg.Pull, gpio.BothEdges); err != nil {
			return nil, fmt.Errorf("s0: configure %s pin %s: %w", dirName[i], p.Name(), err)
		}
	}
	return m, nil
}

var dirName = [2]string{"import", "export"}

var _ meter.Reader = (*Meter)(nil)

func (m *Meter) pins() [2]gpio.PinIn { return [2]gpio.PinIn{m.cfg.Import, m.cfg.Export} }

// Run counts pulses until ctx is done, then saves the state and returns
// nil, or the error of that last save.
func (m *Meter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, p := range m.pins() {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.watch(ctx, i, p)
		}()
	}
	wg.Wait()
	return m.Save()
}

// watch is one pin's loop.
func (m *Meter) watch(ctx context.Context, dir int, p gpio.PinIn) {
	d := debouncer{active: m.cfg.Active, window: m.cfg.Debounce}
	d.reset(p.Read(), m.now())
	for ctx.Err() == nil {
		edge := p.WaitForEdge(m.cfg.Poll)
		now := m.now()
		var pulse time.Time
		var ok bool
		if edge {
			pulse, ok = d.observe(p.Read(), now)
		} else {
			pulse, ok = d.tick(now)
		}
		m.count(dir, pulse, ok, edge)
		m.maybeSave(now)
	}
}

// count adds one pulse at time t to direction dir if pulse is set, and
// one raw edge to the statistics if edge is set.
func (m *Meter) count(dir int, t time.Time, pulse, edge bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if edge {
		m.edges++
	}
	if !pulse {
		return
	}
	c := &m.ch[dir]
	c.rem += m.perWh
	n := int64(m.cfg.Impulses)
	c.wh += unit.Wh(c.rem / n)
	c.rem %= n
	c.pulses++
	c.prev, c.last = c.last, t
	if m.unsaved == 0 {
		m.firstDirt = t
	}
	m.unsaved++
}

// maybeSave writes the state when SaveEvery pulses or SaveInterval have
// passed since the first unsaved pulse.
func (m *Meter) maybeSave(now time.Time) {
	if m.cfg.StateFile == "" {
		return
	}
	m.mu.Lock()
	due := m.unsaved >= m.cfg.SaveEvery || (m.unsaved > 0 && now.Sub(m.firstDirt) >= m.cfg.SaveInterval)
	m.mu.Unlock()
	if due {
		_ = m.Save() // the error is kept for Stats and Read
	}
}

// Save writes the counters to the state file now (no-op without one).
func (m *Meter) Save() error {
	if m.cfg.StateFile == "" {
		return nil
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	st := state{
		Version:  stateVersion,
		Impulses: m.cfg.Impulses,
		Import:   counter{Wh: int64(m.ch[0].wh), Rem: m.ch[0].rem},
		Export:   counter{Wh: int64(m.ch[1].wh), Rem: m.ch[1].rem},
	}
	n := m.unsaved
	m.mu.Unlock()
	err := writeState(m.cfg.StateFile, st)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saveErr = err
	if err == nil {
		m.unsaved -= n // pulses counted during the write stay unsaved
	}
	return err
}

// AtLeast raises the counters to imp and exp where they are below (the
// meter journal's last reading after a power loss); it never lowers them.
// The raised counters are saved with the next save.
func (m *Meter) AtLeast(imp, exp unit.Wh) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range [2]unit.Wh{imp, exp} {
		if m.ch[i].wh < v {
			m.ch[i].wh, m.ch[i].rem = v, 0
			if m.unsaved == 0 {
				m.firstDirt = m.now()
			}
			m.unsaved++
		}
	}
}

// Read returns the counters and the estimated power now. It fails only
// when the last state save failed (the counter would not survive a restart).
func (m *Meter) Read(ctx context.Context) (meter.Reading, error) {
	if err := ctx.Err(); err != nil {
		return meter.Reading{}, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.saveErr != nil {
		return meter.Reading{}, fmt.Errorf("s0: counter not persisted: %w", m.saveErr)
	}
	r := meter.Reading{
		Time:   now,
		Import: m.ch[0].wh,
		Export: m.ch[1].wh,
		Power:  m.power(0, now) - m.power(1, now),
		Serial: m.cfg.Serial,
		Flags:  meter.Estimated,
	}
	if m.cfg.Export == nil {
		r.Flags |= meter.NoExport
	}
	return r, nil
}

// power estimates one direction's power at now; mu held.
func (m *Meter) power(dir int, now time.Time) unit.W {
	c := &m.ch[dir]
	if c.prev.IsZero() {
		return 0
	}
	dt := c.last.Sub(c.prev)
	if since := now.Sub(c.last); since > dt {
		dt = since
	}
	if dt <= 0 {
		return 0
	}
	return unit.W(m.kWns / int64(dt))
}

// Stats returns diagnostic counters.
func (m *Meter) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{ImportPulses: m.ch[0].pulses, ExportPulses: m.ch[1].pulses, Edges: m.edges}
	if m.saveErr != nil {
		s.SaveError = m.saveErr.Error()
	}
	return s
}

// debouncer turns raw levels into pulses: a level counts once it has held
// for window; a pulse is a change of the counted level to active.
type debouncer struct {
	active gpio.Level
	window time.Duration

	stable gpio.Level // the counted level
	raw    gpio.Level // the last level seen
	since  time.Time  // when raw began
}

func (d *debouncer) reset(l gpio.Level, now time.Time) {
	d.stable, d.raw, d.since = l, l, now
}

// tick commits the raw level if it has held for the window; it returns the
// time of a pulse that this began.
func (d *debouncer) tick(now time.Time) (time.Time, bool) {
	if d.raw == d.stable || now.Sub(d.since) < d.window {
		return time.Time{}, false
	}
	d.stable = d.raw
	return d.since, d.stable == d.active
}

// observe records the level seen after an edge at now.
func (d *debouncer) observe(l gpio.Level, now time.Time) (time.Time, bool) {
	t, ok := d.tick(now)
	if l != d.raw {
		d.raw, d.since = l, now
	}
	return t, ok
}
