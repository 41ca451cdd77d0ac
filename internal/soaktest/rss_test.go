package soaktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/internal/cluster"
	"github.com/gridmesh/gridmesh/internal/crashtest"
)

const (
	sampleEvery   = 30 * time.Second
	slotSeconds   = 5
	homes         = 4
	rssSlopeLimit = 32.0 // KiB per minute, over the last half of the run
)

// sample is one process's resident set at a moment of the run, and how much
// its chain store's memtables held then.
type sample struct {
	At  time.Duration // since the first sample
	KiB int64
	Mem int64 // KiB written to the chain store's memtable logs (memFill)
}

// slope is the least-squares slope of the samples' resident set over time,
// in KiB a minute (0 for fewer than two samples or all at one moment).
func slope(s []sample) float64 {
	n := float64(len(s))
	if n < 2 {
		return 0
	}
	var sx, sy float64
	for _, p := range s {
		sx += p.At.Minutes()
		sy += float64(p.KiB)
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for _, p := range s {
		dx := p.At.Minutes() - mx
		sxy += dx * (float64(p.KiB) - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// trend is how fast the samples' resident set rises, in KiB a minute, net
// of the chain store's memtables: the coefficient of time in the
// least-squares fit RSS = a + b·t + c·Mem (see the package doc: the
// memtable's arena and log fill over about half an hour and are freed at
// its flush). Time and fill are told apart only by a flush, a fall of Mem
// to less than half of what it was, with at least minSide samples on either
// side; without one the fill rises with time as a leak would, and trend is
// the plain slope (net false).
func trend(s []sample) (kibPerMin float64, net bool) {
	if !flushedWithin(s) {
		return slope(s), false
	}
	n := float64(len(s))
	var mt, mm, my float64
	for _, p := range s {
		mt += p.At.Minutes()
		mm += float64(p.Mem)
		my += float64(p.KiB)
	}
	mt, mm, my = mt/n, mm/n, my/n
	var stt, stm, smm, sty, smy float64
	for _, p := range s {
		dt, dm, dy := p.At.Minutes()-mt, float64(p.Mem)-mm, float64(p.KiB)-my
		stt += dt * dt
		stm += dt * dm
		smm += dm * dm
		sty += dt * dy
		smy += dm * dy
	}
	det := stt*smm - stm*stm
	if det <= 1e-6*stt*smm {
		return slope(s), false
	}
	return (sty*smm - smy*stm) / det, true
}

// minSide is how many samples trend wants before and after a flush.
const minSide = 4

// flushedWithin reports whether Mem falls within s to less than half of an
// earlier sample's, with at least minSide samples before and after the fall.
func flushedWithin(s []sample) bool {
	var peak int64
	for i := 1; i < len(s); i++ {
		peak = max(peak, s[i-1].Mem)
		if s[i].Mem < peak/2 && i >= minSide && len(s)-i >= minSide {
			return true
		}
	}
	return false
}

// memFill is how much the chain store of the node in dir holds in its
// memtables, in KiB: the written length of each memtable log (.mem) in
// dir/data/chain. badger creates a log at twice the memtable's size, zeros,
// and writes it from the start; a memtable is full when its arena or its
// log reaches the memtable's size (chain/storeopts.go).
func memFill(dir string) (int64, error) {
	logs, err := filepath.Glob(filepath.Join(dir, "data", "chain", "*.mem"))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, l := range logs {
		n, err := written(l)
		if errors.Is(err, fs.ErrNotExist) {
			continue // flushed and removed meanwhile
		}
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum >> 10, nil
}

// written is the length of the log's written part, to a page: the pages
// after it are zeros, none before is (every entry has a header and a
// checksum, and none is a page long: values over the store's
// ValueThreshold, 1 KiB, are in the value log).
func written(path string) (int64, error) {
	const page = 4096
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, page)
	var rerr error
	k := sort.Search(int((fi.Size()+page-1)/page), func(i int) bool {
		n, err := f.ReadAt(buf, int64(i)*page)
		if err != nil && err != io.EOF {
			rerr = err
		}
		return !slices.ContainsFunc(buf[:n], func(b byte) bool { return b != 0 })
	})
	return int64(k) * page, rerr
}

// lastHalf is the samples taken in the second half of the span they cover.
func lastHalf(s []sample) []sample {
	if len(s) == 0 {
		return nil
	}
	mid := (s[0].At + s[len(s)-1].At) / 2
	i, _ := slices.BinarySearchFunc(s, mid, func(p sample, at time.Duration) int { return int(p.At - at) })
	return s[i:]
}

func TestSlope(t *testing.T) {
	mn := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	for _, c := range []struct {
		name string
		s    []sample
		want float64
	}{
		{"none", nil, 0},
		{"one", []sample{{0, 100, 0}}, 0},
		{"flat", []sample{{0, 100, 0}, {mn(1), 100, 0}, {mn(2), 100, 0}}, 0},
		{"rising 10 a minute", []sample{{0, 100, 0}, {mn(1), 110, 0}, {mn(2), 120, 0}, {mn(3), 130, 0}}, 10},
		{"falling", []sample{{0, 130, 0}, {mn(1), 120, 0}, {mn(2), 110, 0}}, -10},
		{"noisy but flat", []sample{{0, 100, 0}, {mn(1), 120, 0}, {mn(2), 100, 0}, {mn(3), 120, 0}, {mn(4), 100, 0}}, 0},
		{"sawtooth", []sample{{0, 100, 0}, {mn(1), 200, 0}, {mn(2), 100, 0}, {mn(3), 200, 0}}, 20},
		{"same moment", []sample{{mn(1), 100, 0}, {mn(1), 200, 0}}, 0},
	} {
		if got := slope(c.s); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: slope = %v KiB/min, want %v", c.name, got, c.want)
		}
	}
}

// synthetic is 30 minutes of samples 30 s apart of a node whose memtables
// fill at 300 KiB a minute and are flushed every 27 minutes (the chain
// store's figures, see the package doc), starting phase minutes into a
// cycle, with 1.2 KiB of RSS per KiB of fill, leak KiB a minute on top and
// up to ±180 KiB of noise.
func synthetic(phase, leak float64) []sample {
	var s []sample
	for i := range 61 {
		m := float64(i) / 2
		mem := int64(300 * math.Mod(m+phase, 27))
		noise := float64((i*7919)%13-6) * 30
		s = append(s, sample{time.Duration(m * float64(time.Minute)), int64(50_000 + 1.2*float64(mem) + leak*m + noise), mem})
	}
	return s
}

func TestTrend(t *testing.T) {
	for _, phase := range []float64{0, 4, 9, 13.5, 20, 26} {
		for _, leak := range []float64{0, 40, 200, -40} {
			s := synthetic(phase, leak)
			got, net := trend(s)
			if !net || math.Abs(got-leak) > 4 {
				t.Errorf("memtables flushed at %v min into the window, leak %v KiB/min: trend = %.1f (net %v), want %v ± 4 (net true); plain slope %.1f",
					27-phase, leak, got, net, leak, slope(s))
			}
		}
	}
	// The sawtooth alone fools the plain slope (hence trend).
	if s := slope(synthetic(0, 0)); s < rssSlopeLimit {
		t.Errorf("plain slope of the sawtooth flushed at 27 min = %.1f KiB/min, want above the limit %v", s, rssSlopeLimit)
	}
	// No flush, or too near an end: the fill cannot be told from a leak.
	for _, c := range []struct {
		name  string
		phase float64
	}{{"no flush", -1}, {"flush before the second sample", 26.5}, {"flush at the last sample", -2.5}} {
		s := synthetic(0, 40)
		for i := range s {
			m := s[i].At.Minutes()
			s[i].Mem = int64(300 * (m + 3))
			if c.phase > 0 && m+c.phase >= 27 {
				s[i].Mem = int64(300 * (m + c.phase - 27))
			}
			if c.phase == -2.5 && i == len(s)-1 {
				s[i].Mem = 0
			}
			s[i].KiB = int64(50_000 + 1.2*float64(s[i].Mem) + 40*m)
		}
		got, net := trend(s)
		if net || got != slope(s) {
			t.Errorf("%s: trend = %.1f (net %v), want the plain slope %.1f (net false)", c.name, got, net, slope(s))
		}
	}
}

func TestWritten(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		written int
		want    int64
	}{{"empty", 0, 0}, {"a page", 4096, 4096}, {"a page and a byte", 4097, 8192}, {"all", 1 << 20, 1 << 20}} {
		b := make([]byte, 1<<20)
		for i := range c.written {
			b[i] = byte(1 + i%251)
		}
		path := filepath.Join(dir, "00001.mem")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := written(path); err != nil || got != c.want {
			t.Errorf("%s: written = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	if _, err := written(filepath.Join(dir, "none.mem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("written(missing file): err %v, want fs.ErrNotExist", err)
	}
}

func TestLastHalf(t *testing.T) {
	var s []sample
	for i := range 7 {
		s = append(s, sample{time.Duration(i) * sampleEvery, int64(i), 0})
	}
	got := lastHalf(s)
	if len(got) != 4 || got[0].KiB != 3 {
		t.Errorf("lastHalf of 7 samples 30 s apart: got %v, want the 4 from 90 s on", got)
	}
	if got := lastHalf(nil); got != nil {
		t.Errorf("lastHalf(nil) = %v, want nil", got)
	}
}

// TestRSSFlat runs one authority and four trading homes as processes for
// GRIDMESH_RSS_MINUTES minutes and fails if any one's resident set rises
// over the last half faster than rssSlopeLimit (see the package doc).
func TestRSSFlat(t *testing.T) {
	minutes, err := strconv.Atoi(os.Getenv("GRIDMESH_RSS_MINUTES"))
	if os.Getenv("GRIDMESH_RSS_MINUTES") == "" {
		t.Skip("set GRIDMESH_RSS_MINUTES (60 for issue 19's figure; at least 10) to run nodes as processes that long")
	}
	if err != nil || minutes < 10 {
		t.Fatalf("GRIDMESH_RSS_MINUTES=%q: want a whole number of minutes, at least 10", os.Getenv("GRIDMESH_RSS_MINUTES"))
	}
	bin, err := crashtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Write(t.TempDir(), cluster.Options{
		Binary: bin, Authorities: 1, Homes: homes, SlotSeconds: slotSeconds, TradingHomes: true, Dev: true, ChainID: "gridmesh-soak",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	procs := slices.Concat(c.Nodes, c.Homes)
	defer c.Stop(10 * time.Second)
	for _, p := range procs {
		if err := c.StartProc(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(minutes+5)*time.Minute)
	defer cancel()
	if err := c.WaitPeers(ctx, procs, 1); err != nil {
		t.Fatal(err)
	}
	samples, settled := run(t, ctx, c, procs, time.Duration(minutes)*time.Minute)
	for _, p := range procs {
		if u := p.Unwanted(); len(u) > 0 {
			t.Errorf("%s: %v; want no incarnation to exit by itself", p.Name, u)
		}
		s := samples[p.Name]
		half := lastHalf(s)
		got, net := trend(half)
		how := "plain slope: no memtable flush in the last half"
		if net {
			how = "net of the memtables"
		}
		t.Logf("%s: %d samples, %d..%d KiB; last half (%d samples from %v): slope %+.1f KiB/min, trend %+.1f (%s; limit %.0f)",
			p.Name, len(s), s[0].KiB, s[len(s)-1].KiB, len(half), half[0].At, slope(half), got, how, rssSlopeLimit)
		if got > rssSlopeLimit {
			t.Errorf("%s: RSS rises %.1f KiB/min (%s) over the last %v, want at most %.0f", p.Name, got, how, s[len(s)-1].At-half[0].At, rssSlopeLimit)
		}
	}
	if settled[1] <= settled[0] {
		t.Errorf("last settled slot %d at half time and %d at the end: want the chain to go on settling", settled[0], settled[1])
	}
}

// run samples every process's RSS every sampleEvery for d and logs each
// round as a line; it returns the samples by node name and the
// authority's last settled slot at half time and at the end.
func run(t *testing.T, ctx context.Context, c *cluster.Cluster, procs []*cluster.Proc, d time.Duration) (map[string][]sample, [2]int64) {
	samples := map[string][]sample{}
	var settled [2]int64
	start := time.Now()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		at := time.Since(start).Round(time.Second)
		var line strings.Builder
		for _, p := range procs {
			kib, err := cluster.RSS(p.Pid())
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			mem, err := memFill(p.Dir)
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			samples[p.Name] = append(samples[p.Name], sample{at, kib, mem})
			fmt.Fprintf(&line, " %s=%d/%d", p.Name, kib, mem)
		}
		st, err := c.Status(ctx, 0)
		if err != nil {
			t.Fatalf("authority: %v", err)
		}
		if at <= d/2 {
			settled[0] = st.LastSettled
		}
		settled[1] = st.LastSettled
		t.Logf("sample t=%v height=%d settled=%d KiB (RSS/memtables):%s", at, st.Height, st.LastSettled, line.String())
		if at >= d {
			return samples, settled
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
	}
}
