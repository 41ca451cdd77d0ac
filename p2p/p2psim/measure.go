package p2psim

import (
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
)

// receivers read every host's topic and record first deliveries, their
// latencies and duplicates. allIn is closed when every host has every
// payload it did not publish.
type receivers struct {
	want       int64
	total      atomic.Int64
	firstPass  atomic.Int64
	reannStart atomic.Int64 // unix nanos of the first re-announcement; 0 before
	allIn      chan struct{}
	closeAll   sync.Once
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu   sync.Mutex
	got  []map[uint32]bool
	lats []time.Duration
	dups int
}

// receive starts one reader per host; stop ends them.
func (s *sim) receive(ctx context.Context) *receivers {
	rctx, cancel := context.WithCancel(ctx)
	r := &receivers{
		want:   int64(s.cfg.Orders) * int64(s.cfg.Nodes-1),
		allIn:  make(chan struct{}),
		cancel: cancel,
		got:    make([]map[uint32]bool, len(s.topics)),
	}
	for i, tp := range s.topics {
		r.got[i] = make(map[uint32]bool)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.read(rctx, i, tp)
		}()
	}
	return r
}

// read records host i's deliveries until ctx ends.
func (r *receivers) read(ctx context.Context, i int, tp *p2p.Topic) {
	for {
		m, err := tp.Next(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		if len(m.Payload) < 12 {
			continue
		}
		idx := binary.BigEndian.Uint32(m.Payload)
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Payload[4:])))
		r.mu.Lock()
		if r.got[i][idx] {
			r.dups++
			r.mu.Unlock()
			continue
		}
		r.got[i][idx] = true
		r.lats = append(r.lats, now.Sub(sent))
		r.mu.Unlock()
		if rs := r.reannStart.Load(); rs == 0 || now.UnixNano() < rs {
			r.firstPass.Add(1)
		}
		if r.total.Add(1) == r.want {
			r.closeAll.Do(func() { close(r.allIn) })
		}
	}
}

// wait waits until everything is delivered, d passes or ctx ends; it
// reports whether there is still something to wait for (not all delivered,
// ctx not ended).
func (r *receivers) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.allIn:
	case <-t.C:
	case <-ctx.Done():
	}
	return r.total.Load() != r.want && ctx.Err() == nil
}

// stop ends the readers and waits for them.
func (r *receivers) stop() {
	r.cancel()
	r.wg.Wait()
}

// measure fills res from what the readers recorded over window.
func (r *receivers) measure(res *Result, window time.Duration, bytesPerNode int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lats := slices.Clone(r.lats)
	slices.Sort(lats)
	pct := func(q float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[min(len(lats)-1, int(q*float64(len(lats))))]) / 1e6
	}
	res.P50Ms, res.P95Ms, res.P99Ms = pct(0.50), pct(0.95), pct(0.99)
	if len(lats) > 0 {
		res.MaxMs = float64(lats[len(lats)-1]) / 1e6
	}
	res.DeliveryRatio = float64(r.total.Load()) / float64(r.want)
	res.FirstPassRatio = float64(r.firstPass.Load()) / float64(r.want)
	res.Duplicates = r.dups
	res.BytesPerNode = bytesPerNode
	res.DurationS = window.Seconds()
	if window > 0 {
		res.KbitPerNode = float64(bytesPerNode) * 8 / 1000 / window.Seconds()
	}
}

// sampleGoroutines records the process's peak goroutine count every 50 ms
// until stop is called.
func sampleGoroutines() (peak *atomic.Int64, stop func()) {
	peak = new(atomic.Int64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if g := int64(runtime.NumGoroutine()); g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return peak, func() { close(done); wg.Wait() }
}

// peakRSSMB reads the process's peak resident set (VmHWM) on Linux; 0 elsewhere.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}
