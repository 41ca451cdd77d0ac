package s0

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// edge is one level change the test drives, at a time on the test clock.
type edge struct {
	at time.Duration // since epoch
	l  gpio.Level
}

// stampPin is a periph gpiotest pin whose WaitForEdge, when it returns an
// edge, first sets the test clock to that edge's scheduled time. The clock
// thus moves inside the counting goroutine, in step with the edges, and the
// test needs neither sleeps nor a race between clock and channel.
type stampPin struct {
	*gpiotest.Pin
	clk   *clock
	epoch time.Time
	next  chan time.Duration // scheduled time of each edge sent
}

func newPin(name string, clk *clock, epoch time.Time) *stampPin {
	return &stampPin{
		Pin:   &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level)},
		clk:   clk,
		epoch: epoch,
		next:  make(chan time.Duration, 1),
	}
}

func (p *stampPin) WaitForEdge(timeout time.Duration) bool {
	if !p.Pin.WaitForEdge(timeout) {
		return false
	}
	p.clk.Set(p.epoch.Add(<-p.next))
	return true
}

// send drives one edge; it returns when the counting loop has taken it.
func (p *stampPin) send(t *testing.T, e edge) {
	t.Helper()
	p.next <- e.at
	select {
	case p.EdgesChan <- e.l:
	case <-time.After(10 * time.Second):
		t.Fatal("counting loop does not take edges")
	}
}

// bouncyPulses returns the edges of n pulses at the given period: each
// pulse starts and ends with 0-4 bounces (1 ms apart), holds the active
// (low) level 60 ms, and every third pause has a 5 ms interference spike.
func bouncyPulses(rng *rand.Rand, n int, period time.Duration) []edge {
	var es []edge
	ms := time.Millisecond
	for i := range n {
		t := time.Duration(i+1) * period
		b := rng.IntN(5)
		for range b { // start bounce: low, high, ...
			es = append(es, edge{t, gpio.Low}, edge{t + ms, gpio.High})
			t += 2 * ms
		}
		es = append(es, edge{t, gpio.Low})
		t += 60 * ms
		es = append(es, edge{t, gpio.High})
		for range rng.IntN(5) { // release bounce
			es = append(es, edge{t + ms, gpio.Low}, edge{t + 2*ms, gpio.High})
			t += 2 * ms
		}
		if i%3 == 0 { // a spike in the pause
			t += period / 2
			es = append(es, edge{t, gpio.Low}, edge{t + 5*ms, gpio.High})
		}
	}
	return es
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type rig struct {
	m      *Meter
	clk    *clock
	epoch  time.Time
	imp    *stampPin
	exp    *stampPin
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config, export bool) *rig {
	t.Helper()
	r := &rig{clk: &clock{}, epoch: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	r.clk.Set(r.epoch)
	r.imp = newPin("GPIO17", r.clk, r.epoch)
	cfg.Import = r.imp
	if export {
		r.exp = newPin("GPIO27", r.clk, r.epoch)
		cfg.Export = r.exp
	}
	cfg.Now = r.clk.Now
	if cfg.Poll == 0 {
		cfg.Poll = 5 * time.Millisecond
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- m.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *rig) stop(t *testing.T) error {
	t.Helper()
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run does not return after cancel")
		return nil
	}
}

func TestCountBouncyPulses(t *testing.T) {
	const n = 10_000
	state := filepath.Join(t.TempDir(), "s0.json")
	r := start(t, Config{Impulses: 800, StateFile: state}, false)
	es := bouncyPulses(rand.New(rand.NewPCG(1, 2)), n, time.Second)
	if len(es) < 3*n {
		t.Fatalf("only %d edges for %d pulses: not much bounce", len(es), n)
	}
	for _, e := range es {
		r.imp.send(t, e)
	}
	waitFor(t, "all edges", func() bool { return r.m.Stats().Edges == uint64(len(es)) })
	if got := r.m.Stats().ImportPulses; got != n {
		t.Fatalf("pulses: got %d, want %d (%d edges)", got, n, len(es))
	}
	rd, err := r.m.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 10,000 pulses at 800/kWh = 12.5 kWh exactly; 1.25 Wh a second = 4500 W,
	// less up to 0.8 % because a pulse's time is its last start bounce's
	// (0-4 bounces of 2 ms), so the last interval is 992-1008 ms.
	if p := rd.Power; p < 4464 || p > 4536 {
		t.Errorf("power: got %v, want 4500 W ± 0.8 %%", p)
	}
	rd.Power = 0
	want := meter.Reading{Time: r.clk.Now(), Import: 12_500, Serial: "s0:GPIO17", Flags: meter.Estimated | meter.NoExport}
	if rd != want {
		t.Fatalf("read: got %+v, want %+v", rd, want)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	// Restart: the counter continues from the state file.
	r2 := start(t, Config{Impulses: 800, StateFile: state}, false)
	rd, err = r2.m.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rd.Import != 12_500 || rd.Power != 0 {
		t.Fatalf("after restart: got import %v power %v, want 12500 Wh, 0 W", rd.Import, rd.Power)
	}
	// Three more pulses: 3.75 Wh -> 12503 Wh and a remainder of 0.75 Wh.
	for _, e := range bouncyPulses(rand.New(rand.NewPCG(3, 4)), 3, time.Second) {
		r2.imp.send(t, e)
	}
	waitFor(t, "3 pulses", func() bool { return r2.m.Stats().ImportPulses == 3 })
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(state)
	if err != nil {
		t.Fatal(err)
	}
	if st.Import != (counter{Wh: 12_503, Rem: 600}) { // 0.75 Wh = 600/800
		t.Fatalf("state: got %+v, want 12503 Wh + 600/800", st.Import)
	}
}

func TestImportExport(t *testing.T) {
	r := start(t, Config{Impulses: 1000}, true)
	// Export: pulses 2 s apart (1 Wh per 2 s = 1800 W); import: one pulse.
	for i := range 5 {
		at := time.Duration(i+1) * 2 * time.Second
		r.exp.send(t, edge{at, gpio.Low})
		r.exp.send(t, edge{at + 50*time.Millisecond, gpio.High})
	}
	r.imp.send(t, edge{time.Second, gpio.Low})
	r.imp.send(t, edge{time.Second + 50*time.Millisecond, gpio.High})
	waitFor(t, "pulses", func() bool { s := r.m.Stats(); return s.ExportPulses == 5 && s.ImportPulses == 1 })
	r.clk.Set(r.epoch.Add(10*time.Second + time.Second))
	rd, err := r.m.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rd.Import != 1 || rd.Export != 5 || rd.Power != -1800 || rd.Flags != meter.Estimated {
		t.Fatalf("got %+v, want import 1, export 5, power -1800, flags estimated", rd)
	}
	// No pulse for a minute: power decays to 1 Wh / 61 s = 59 W.
	r.clk.Set(r.epoch.Add(71 * time.Second))
	rd, _ = r.m.Read(context.Background())
	if rd.Power != -59 {
		t.Fatalf("power after 61 s without pulses: got %v, want -59 W", rd.Power)
	}
}

func TestDebouncer(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		edges []edge // then a tick at the last edge + 1 s
		want  []time.Duration
	}{
		{"clean pulse", []edge{{100 * ms, gpio.Low}, {190 * ms, gpio.High}}, []time.Duration{100 * ms}},
		{"exactly the window", []edge{{100 * ms, gpio.Low}, {130 * ms, gpio.High}}, []time.Duration{100 * ms}},
		{"too short", []edge{{100 * ms, gpio.Low}, {129 * ms, gpio.High}}, nil},
		{"start bounce", []edge{{100 * ms, gpio.Low}, {101 * ms, gpio.High}, {103 * ms, gpio.Low}, {200 * ms, gpio.High}}, []time.Duration{103 * ms}},
		{"held without release", []edge{{100 * ms, gpio.Low}}, []time.Duration{100 * ms}},
		{"release bounce", []edge{{100 * ms, gpio.Low}, {200 * ms, gpio.High}, {201 * ms, gpio.Low}, {202 * ms, gpio.High}}, []time.Duration{100 * ms}},
		{"short gap", []edge{{100 * ms, gpio.Low}, {200 * ms, gpio.High}, {220 * ms, gpio.Low}, {400 * ms, gpio.High}}, []time.Duration{100 * ms}},
		{"repeated level", []edge{{100 * ms, gpio.Low}, {110 * ms, gpio.Low}, {135 * ms, gpio.High}}, []time.Duration{100 * ms}},
	}
	epoch := time.Unix(0, 0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := debouncer{active: gpio.Low, window: 30 * ms}
			d.reset(gpio.High, epoch)
			var got []time.Duration
			for _, e := range tc.edges {
				if p, ok := d.observe(e.l, epoch.Add(e.at)); ok {
					got = append(got, p.Sub(epoch))
				}
			}
			if p, ok := d.tick(epoch.Add(tc.edges[len(tc.edges)-1].at + time.Second)); ok {
				got = append(got, p.Sub(epoch))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("pulses at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("pulses at %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestSaveEvery: with SaveEvery 7, after 10 pulses the file holds 7: a
// power loss then loses at most SaveEvery pulses.
func TestSaveEvery(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s0.json")
	r := start(t, Config{Impulses: 1000, StateFile: state, SaveEvery: 7}, false)
	for _, e := range bouncyPulses(rand.New(rand.NewPCG(5, 6)), 10, time.Second) {
		r.imp.send(t, e)
	}
	waitFor(t, "10 pulses", func() bool { return r.m.Stats().ImportPulses == 10 })
	st, err := loadState(state)
	if err != nil || st == nil {
		t.Fatalf("state after 10 pulses: %v, %v", st, err)
	}
	if st.Import.Wh != 7 {
		t.Fatalf("saved import: got %d Wh, want 7 (saved at the 7th pulse)", st.Import.Wh)
	}
}

// TestSaveInterval: one pulse is saved once SaveInterval has passed.
func TestSaveInterval(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s0.json")
	r := start(t, Config{Impulses: 1000, StateFile: state, SaveInterval: time.Minute}, false)
	r.imp.send(t, edge{time.Second, gpio.Low})
	r.imp.send(t, edge{time.Second + 50*time.Millisecond, gpio.High})
	waitFor(t, "1 pulse", func() bool { return r.m.Stats().ImportPulses == 1 })
	if _, err := os.Stat(state); err == nil {
		t.Fatal("state saved before SaveInterval")
	}
	r.clk.Set(r.epoch.Add(62 * time.Second)) // the loop's next poll timeout sees it
	waitFor(t, "state file", func() bool { st, err := loadState(state); return err == nil && st != nil && st.Import.Wh == 1 })
}

func TestAtLeast(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s0.json")
	if err := writeState(state, state0(1000, 100, 5)); err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Impulses: 1000, StateFile: state}, true)
	r.m.AtLeast(150, 2) // the journal is ahead on import only
	rd, _ := r.m.Read(context.Background())
	if rd.Import != 150 || rd.Export != 5 {
		t.Fatalf("got import %v export %v, want 150, 5", rd.Import, rd.Export)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	st, _ := loadState(state)
	if st.Import.Wh != 150 || st.Export.Wh != 5 {
		t.Fatalf("saved %+v, want import 150, export 5", st)
	}
}

func state0(imp int, i, e int64) state {
	return state{Version: stateVersion, Impulses: imp, Import: counter{Wh: i}, Export: counter{Wh: e}}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "bad.json")
	os.WriteFile(corrupt, []byte(`{"version":1,"impulses":1000,"import":{"wh":-1,"rem":0},"export":{"wh":0,"rem":0}}`), 0o600)
	pin := func() gpio.PinIn { return &gpiotest.Pin{N: "X", EdgesChan: make(chan gpio.Level)} }
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no pin", Config{Impulses: 1000}, ErrConfig},
		{"no impulses", Config{Import: pin()}, ErrConfig},
		{"same pin twice", Config{Import: pin(), Export: pin(), Impulses: 1000}, ErrConfig},
		{"debounce too short", Config{Import: pin(), Impulses: 1000, Debounce: 10 * time.Millisecond}, ErrConfig},
		{"corrupt state", Config{Import: pin(), Impulses: 1000, StateFile: corrupt}, ErrState},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestImpulsesChanged(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s0.json")
	// 10 Wh + 500/1000 Wh kept at 1000/kWh, now read at 800/kWh: 10 Wh + 400/800.
	st := state0(1000, 10, 0)
	st.Import.Rem = 500
	if err := writeState(state, st); err != nil {
		t.Fatal(err)
	}
	r := start(t, Config{Impulses: 800, StateFile: state}, false)
	r.imp.send(t, edge{time.Second, gpio.Low})
	r.imp.send(t, edge{time.Second + 50*time.Millisecond, gpio.High})
	waitFor(t, "pulse", func() bool { return r.m.Stats().ImportPulses == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	got, _ := loadState(state)
	if got.Impulses != 800 || got.Import != (counter{Wh: 11, Rem: 600}) { // 0.5 + 1.25 = 1.75 Wh
		t.Fatalf("got %+v, want 800/kWh, 11 Wh + 600/800", got)
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"impulses":800,"import":{"wh":12503,"rem":600},"export":{"wh":0,"rem":0}}`))
	f.Add([]byte(`{"version":1,"impulses":800,"import":{"wh":1,"rem":800},"export":{"wh":0,"rem":0}}`))
	f.Add([]byte(`{"version":1,"impulses":1000,"import":{"wh":1},"export":{},"x":1}`))
	f.Add([]byte(`{"version":1,"impulses":1000,"import":{},"export":{}} {}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		// What decodes is in range and survives a round trip through a file.
		for _, c := range []counter{st.Import, st.Export} {
			if c.Wh < 0 || c.Rem < 0 || c.Rem >= int64(st.Impulses) {
				t.Fatalf("accepted out-of-range counter %+v", c)
			}
			if wh, rem := c.WhUnits(st.Impulses, 1); wh != unit.Wh(c.Wh) || rem != 0 {
				t.Fatalf("conversion to 1/kWh: got %v + %d", wh, rem)
			}
		}
		path := filepath.Join(t.TempDir(), "s")
		if err := writeState(path, st); err != nil {
			t.Fatal(err)
		}
		got, err := loadState(path)
		if err != nil || *got != st {
			t.Fatalf("round trip: got %+v, %v; want %+v", got, err, st)
		}
	})
}
