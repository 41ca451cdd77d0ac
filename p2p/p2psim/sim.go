package p2psim

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
)

// ErrConfig is returned by Run for a configuration it cannot simulate.
var ErrConfig = errors.New("p2psim: bad config")

// Config configures Run. Zero values take the defaults in brackets.
type Config struct {
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
	Heartbeat   time.Duration // gossipsub heartbeat [1 s]; tests shorten it
	Seed        uint64        // topology, publishers and loss
	Log         *slog.Logger  `json:"-"` // may be nil
}

// Result is what Run measured. Latencies run from the original publication to
// a host's first delivery (re-announced deliveries count from the original).
type Result struct {
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

// withDefaults returns cfg with its zero values replaced, or ErrConfig.
func (cfg Config) withDefaults() (Config, error) {
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
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Nodes < 2 || cfg.Orders < 1 || cfg.Loss < 0 || cfg.Loss >= 1 {
		return cfg, fmt.Errorf("%w: sim needs nodes >= 2, orders >= 1, 0 <= loss < 1", ErrConfig)
	}
	return cfg, nil
}

// order is one payload and the host that publishes (and re-announces) it.
type order struct {
	from    int
	payload []byte
}

// sim is one run: its hosts, their topics and link models, and what the
// receivers counted.
type sim struct {
	cfg    Config
	rng    *rand.Rand
	hosts  []*p2p.Host
	topics []*p2p.Topic
	links  []*linkModel
	orders []order
	recv   *receivers
}

// Run starts cfg.Nodes real libp2p hosts in this process on loopback TCP,
// joins them to one topic, gossips cfg.Orders signed payloads and measures
// delivery. It closes every host before returning. Its steps: start the
// hosts, connect them (a ring plus random peers), join the topic and wait
// for the meshes, receive, publish, re-announce, settle, measure.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
	res := Result{Nodes: cfg.Nodes, Orders: cfg.Orders, Loss: cfg.Loss,
		LatencyMs: float64(cfg.Latency) / 1e6, Reannounce: cfg.Reannounce, MeshDegree: cfg.MeshDegree}
	peakG, stopSampling := sampleGoroutines()
	defer stopSampling()
	defer s.close()
	if err := s.startHosts(); err != nil {
		return res, err
	}
	if err := s.connect(ctx); err != nil {
		return res, err
	}
	if err := s.join(ctx); err != nil {
		return res, err
	}
	s.recv = s.receive(ctx)
	bytesBefore := s.gossipBytes()
	start := time.Now()
	err = s.publish(ctx)
	if err == nil {
		err = s.reannounce(ctx)
	}
	if err == nil {
		s.settle(ctx)
	}
	window := time.Since(start)
	bytes := s.gossipBytes() - bytesBefore
	s.recv.stop()
	if err != nil {
		return res, err
	}
	s.recv.measure(&res, window, bytes/int64(cfg.Nodes))
	res.PeakGoroutines = int(peakG.Load())
	res.PeakRSSMB = peakRSSMB()
	return res, ctx.Err()
}

// startHosts starts the hosts, each with a key from the seed and its own
// link model wrapped around its gossip.
func (s *sim) startHosts() error {
	cfg := s.cfg
	s.hosts = make([]*p2p.Host, cfg.Nodes)
	s.links = make([]*linkModel, cfg.Nodes)
	for i := range s.hosts {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint64(seed, cfg.Seed)
		binary.BigEndian.PutUint64(seed[8:], uint64(i)+1)
		s.links[i] = newLinkModel(cfg.Loss, cfg.Latency, cfg.Seed*1_000_003+uint64(i))
		h, err := p2p.New(context.Background(), p2p.Config{
			Key:        ed25519.NewKeyFromSeed(seed),
			Network:    "sim",
			Listen:     []string{"/ip4/127.0.0.1/tcp/0"},
			ConnLow:    2 * (cfg.Degree + 1),
			ConnHigh:   4 * (cfg.Degree + 1),
			MeshDegree: cfg.MeshDegree,
			Heartbeat:  cfg.Heartbeat,
			WrapGossip: s.links[i].wrap,
		}, cfg.Log)
		if err != nil {
			return fmt.Errorf("host %d: %w", i, err)
		}
		s.hosts[i] = h
	}
	return nil
}

// connect dials, from each host, its ring neighbour and Degree random peers.
func (s *sim) connect(ctx context.Context) error {
	n := s.cfg.Nodes
	for i, h := range s.hosts {
		targets := []int{(i + 1) % n}
		for len(targets) < min(s.cfg.Degree+1, n-1) {
			j := s.rng.IntN(n)
			if j != i && !slices.Contains(targets, j) {
				targets = append(targets, j)
			}
		}
		for _, j := range targets {
			cctx, cancel := context.WithTimeout(ctx, p2p.DefaultTimeout)
			err := h.Connect(cctx, s.hosts[j].Addrs()[0])
			cancel()
			if err != nil {
				return fmt.Errorf("connect %d to %d: %w", i, j, err)
			}
		}
	}
	return nil
}

// meshPoll is how often join looks at the hosts' meshes.
const meshPoll = 20 * time.Millisecond

// join joins every host to the topic and waits until each host has heard
// the subscriptions of all the peers it is connected to (they all join) and
// its gossipsub mesh holds as many peers as gossipsub aims for at least (its
// Dlo, D-1, or all its peers if fewer): a payload published before the
// meshes form would reach only direct neighbours at first, and none that
// passes a host before it knows a neighbour subscribed is ever offered to
// that neighbour.
func (s *sim) join(ctx context.Context) error {
	s.topics = make([]*p2p.Topic, len(s.hosts))
	for i, h := range s.hosts {
		tp, err := h.Join("orders", nil)
		if err != nil {
			return fmt.Errorf("host %d join: %w", i, err)
		}
		s.topics[i] = tp
	}
	d := s.cfg.MeshDegree
	if d == 0 {
		d = 6
	}
	d = max(d, 4)
	tick := time.NewTicker(meshPoll)
	defer tick.Stop()
	for i, tp := range s.topics {
		for {
			peers := len(s.hosts[i].Peers())
			if peers > 0 && len(tp.Peers()) >= peers && len(tp.MeshPeers()) >= min(peers, d-1) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("host %d: mesh not formed: %w", i, ctx.Err())
			case <-tick.C:
			}
		}
	}
	return nil
}

// publish publishes cfg.Orders payloads at cfg.Rate, each from a random
// host; a payload starts with its index and its publication time.
func (s *sim) publish(ctx context.Context) error {
	s.orders = make([]order, s.cfg.Orders)
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	start := time.Now()
	pace := time.NewTimer(0)
	defer pace.Stop()
	for k := range s.orders {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			pace.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-pace.C:
			}
		}
		p := make([]byte, s.cfg.PayloadSize)
		binary.BigEndian.PutUint32(p, uint32(k))
		binary.BigEndian.PutUint64(p[4:], uint64(time.Now().UnixNano()))
		for j := 12; j < len(p); j++ {
			p[j] = byte(s.rng.Uint32())
		}
		from := s.rng.IntN(s.cfg.Nodes)
		s.orders[k] = order{from, p}
		if err := s.topics[from].Publish(ctx, p); err != nil {
			return fmt.Errorf("publish %d: %w", k, err)
		}
	}
	return nil
}

// reannounce publishes every payload again (fresh envelopes), cfg.Every
// apart, cfg.Reannounce times, unless all were delivered first.
func (s *sim) reannounce(ctx context.Context) error {
	for r := 0; r < s.cfg.Reannounce; r++ {
		if !s.recv.wait(ctx, s.cfg.Every) {
			return nil
		}
		if r == 0 {
			s.recv.reannStart.Store(time.Now().UnixNano())
		}
		for _, o := range s.orders {
			if err := s.topics[o.from].Publish(ctx, o.payload); err != nil {
				return fmt.Errorf("re-announce: %w", err)
			}
		}
	}
	return nil
}

// settle waits for stragglers: until everything is delivered, cfg.Settle
// passes or ctx ends.
func (s *sim) settle(ctx context.Context) { s.recv.wait(ctx, s.cfg.Settle) }

// gossipBytes sums the gossipsub stream bytes of every host.
func (s *sim) gossipBytes() int64 {
	var sum int64
	for _, lm := range s.links {
		sum += lm.sent.Load() + lm.received.Load()
	}
	return sum
}

func (s *sim) close() {
	for _, h := range s.hosts {
		if h != nil {
			h.Close()
		}
	}
}
