package p2p

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SimConfig configures RunSim. Zero values take the defaults in brackets.
type SimConfig struct {
	Nodes       int           // hosts in this process [50]
	Orders      int           // payloads gossiped, each from a random host [1000]
	PayloadSize int           // bytes per payload, an order's size [200]
	Degree      int           // peers each host dials besides its ring neighbour [4]
	MeshDegree  int           // gossipsub D [6]
	Rate        float64       // payloads published per second, all hosts together [200]
	Loss        float64       // probability that a gossip RPC carrying messages is lost
	Latency     time.Duration // one-way delay added to every gossip RPC
	Reannounce  int           // re-announcement rounds after publishing [0; 3 if Loss > 0]
	Every       time.Duration // interval between re-announcement rounds [1 s]
	Settle      time.Duration // how long to wait for stragglers after the last round [3 s]
	Seed        uint64        // topology, publishers and loss
	Log         *slog.Logger  // may be nil

	heartbeat time.Duration // gossipsub heartbeat [1 s]; tests shorten it
}

// SimResult is what RunSim measured. Latencies run from the original publication to
// a host's first delivery (re-announced deliveries count from the original).
type SimResult struct {
	Nodes          int     `json:"nodes"`
	Orders         int     `json:"orders"`
	P50Ms          float64 `json:"p50_ms"`
	P95Ms          float64 `json:"p95_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	DeliveryRatio  float64 `json:"delivery_ratio"`
	FirstPassRatio float64 `json:"first_pass_ratio"` // delivered before any re-announcement
	Duplicates     int     `json:"duplicates"`       // deliveries of a payload a host already had (want 0)
	BytesPerNode   int64   `json:"bytes_per_node"`   // gossipsub stream bytes sent+received per host from the first publication (no Noise/yamux/TCP overhead)
	KbitPerNode    float64 `json:"kbit_per_node_s"`  // BytesPerNode over DurationS
	PeakRSSMB      float64 `json:"peak_rss_mb"`      // whole process (VmHWM)
	PeakGoroutines int     `json:"peak_goroutines"`  // whole process
	Loss           float64 `json:"loss"`
	LatencyMs      float64 `json:"latency_ms"`
	Reannounce     int     `json:"reannounce"`
	MeshDegree     int     `json:"mesh_degree"`
	DurationS      float64 `json:"duration_s"` // first publication until all delivered (or settle ran out)
}

// RunSim starts cfg.Nodes real libp2p hosts in this process on loopback TCP, joins
// them to one topic, gossips cfg.Orders signed payloads and measures delivery. It
// closes every host before returning.
func RunSim(ctx context.Context, cfg SimConfig) (SimResult, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 50
	}
	if cfg.Orders == 0 {
		cfg.Orders = 1000
	}
	if cfg.PayloadSize < 16 {
		cfg.PayloadSize = 200
	}
	if cfg.Degree <= 0 {
		cfg.Degree = 4
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 200
	}
	if cfg.Reannounce == 0 && cfg.Loss > 0 {
		cfg.Reannounce = 3
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	hb := cfg.heartbeat
	if hb <= 0 {
		hb = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Nodes < 2 || cfg.Orders < 1 || cfg.Loss < 0 || cfg.Loss >= 1 {
		return SimResult{}, fmt.Errorf("%w: sim needs nodes >= 2, orders >= 1, 0 <= loss < 1", ErrConfig)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	res := SimResult{Nodes: cfg.Nodes, Orders: cfg.Orders, Loss: cfg.Loss,
		LatencyMs: float64(cfg.Latency) / 1e6, Reannounce: cfg.Reannounce, MeshDegree: cfg.MeshDegree}

	var peakG atomic.Int64
	sampleCtx, stopSample := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if g := int64(runtime.NumGoroutine()); g > peakG.Load() {
				peakG.Store(g)
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { stopSample(); sampler.Wait() }()

	// Hosts.
	hosts := make([]*Host, cfg.Nodes)
	links := make([]*linkModel, cfg.Nodes)
	defer func() {
		for _, h := range hosts {
			if h != nil {
				h.Close()
			}
		}
	}()
	for i := range hosts {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint64(seed, cfg.Seed)
		binary.BigEndian.PutUint64(seed[8:], uint64(i)+1)
		links[i] = newLinkModel(cfg.Loss, cfg.Latency, cfg.Seed*1_000_003+uint64(i))
		hc := Config{
			Key:        ed25519.NewKeyFromSeed(seed),
			Network:    "sim",
			Listen:     []string{"/ip4/127.0.0.1/tcp/0"},
			ConnLow:    2 * (cfg.Degree + 1),
			ConnHigh:   4 * (cfg.Degree + 1),
			MeshDegree: cfg.MeshDegree,
			shape:      links[i],
			heartbeat:  cfg.heartbeat,
		}
		h, err := New(ctx, hc, cfg.Log)
		if err != nil {
			return res, fmt.Errorf("host %d: %w", i, err)
		}
		hosts[i] = h
	}
	// Topology: a ring plus Degree random peers each.
	for i, h := range hosts {
		targets := []int{(i + 1) % cfg.Nodes}
		for len(targets) < min(cfg.Degree+1, cfg.Nodes-1) {
			j := rng.IntN(cfg.Nodes)
			if j != i && !slices.Contains(targets, j) {
				targets = append(targets, j)
			}
		}
		for _, j := range targets {
			cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
			err := h.Connect(cctx, hosts[j].Addrs()[0])
			cancel()
			if err != nil {
				return res, fmt.Errorf("connect %d to %d: %w", i, j, err)
			}
		}
	}
	topics := make([]*Topic, cfg.Nodes)
	for i, h := range hosts {
		tp, err := h.Join("orders", nil)
		if err != nil {
			return res, fmt.Errorf("host %d join: %w", i, err)
		}
		topics[i] = tp
	}
	for _, tp := range topics {
		for len(tp.Peers()) == 0 {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(3 * hb) // heartbeats: meshes form

	// Receivers.
	var (
		mu         sync.Mutex
		got        = make([]map[uint32]bool, cfg.Nodes)
		lats       []time.Duration
		firstPass  atomic.Int64
		reannStart atomic.Int64 // unix nanos of the first re-announcement; 0 before
		dups       int
		total      atomic.Int64
	)
	want := int64(cfg.Orders) * int64(cfg.Nodes-1)
	allIn := make(chan struct{})
	var closeAll sync.Once
	rctx, stopRecv := context.WithCancel(ctx)
	var recv sync.WaitGroup
	for i, tp := range topics {
		got[i] = make(map[uint32]bool)
		recv.Add(1)
		go func() {
			defer recv.Done()
			for {
				m, err := tp.Next(rctx)
				if err != nil {
					return
				}
				now := time.Now()
				if len(m.Payload) < 12 {
					continue
				}
				idx := binary.BigEndian.Uint32(m.Payload)
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Payload[4:])))
				mu.Lock()
				if got[i][idx] {
					dups++
					mu.Unlock()
					continue
				}
				got[i][idx] = true
				lats = append(lats, now.Sub(sent))
				mu.Unlock()
				if rs := reannStart.Load(); rs == 0 || now.UnixNano() < rs {
					firstPass.Add(1)
				}
				if total.Add(1) == want {
					closeAll.Do(func() { close(allIn) })
				}
			}
		}()
	}

	// Publishers.
	type order struct {
		from    int
		payload []byte
	}
	orders := make([]order, cfg.Orders)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	bytesNow := func() int64 {
		var sum int64
		for _, lm := range links {
			sum += lm.sent.Load() + lm.received.Load()
		}
		return sum
	}
	bytesBefore := bytesNow()
	start := time.Now()
	for k := range orders {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		p := make([]byte, cfg.PayloadSize)
		binary.BigEndian.PutUint32(p, uint32(k))
		binary.BigEndian.PutUint64(p[4:], uint64(time.Now().UnixNano()))
		for j := 12; j < len(p); j++ {
			p[j] = byte(rng.Uint32())
		}
		from := rng.IntN(cfg.Nodes)
		orders[k] = order{from, p}
		if err := topics[from].Publish(ctx, p); err != nil {
			stopRecv()
			recv.Wait()
			return res, fmt.Errorf("publish %d: %w", k, err)
		}
	}
	for r := 0; r < cfg.Reannounce; r++ {
		select {
		case <-allIn:
		case <-time.After(cfg.Every):
		case <-ctx.Done():
		}
		if total.Load() == want || ctx.Err() != nil {
			break
		}
		if r == 0 {
			reannStart.Store(time.Now().UnixNano())
		}
		for _, o := range orders {
			if err := topics[o.from].Publish(ctx, o.payload); err != nil {
				stopRecv()
				recv.Wait()
				return res, fmt.Errorf("re-announce: %w", err)
			}
		}
	}
	select {
	case <-allIn:
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	window := time.Since(start)
	bytes := bytesNow() - bytesBefore
	stopRecv()
	recv.Wait()

	mu.Lock()
	defer mu.Unlock()
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
	res.DeliveryRatio = float64(total.Load()) / float64(want)
	res.FirstPassRatio = float64(firstPass.Load()) / float64(want)
	res.Duplicates = dups
	res.BytesPerNode = bytes / int64(cfg.Nodes)
	res.DurationS = window.Seconds()
	if window > 0 {
		res.KbitPerNode = float64(res.BytesPerNode) * 8 / 1000 / window.Seconds()
	}
	res.PeakGoroutines = int(peakG.Load())
	res.PeakRSSMB = peakRSSMB()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
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
