package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/internal/portlease"
	"github.com/gridmesh/gridmesh/unit"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DemoOptions are the flags of `gridmesh demo`.
type DemoOptions struct {
	Homes       int
	Authorities int
	Slot        time.Duration // whole seconds
	For         time.Duration
	Seed        int64
	Data        string // "" = a temporary directory removed at exit
	JSON        bool
	// Log, if set, receives the nodes' logs (warnings and errors otherwise go to stderr).
	Log *slog.Logger
}

// DefaultDemoOptions are the demo's defaults.
func DefaultDemoOptions() DemoOptions {
	return DemoOptions{Homes: 6, Authorities: 4, Slot: 5 * time.Second, For: 90 * time.Second, Seed: 1}
}

// Summary is what the demo reports at the end (the last line of stdout with --json).
type Summary struct {
	Homes           int        `json:"homes"`
	Authorities     int        `json:"authorities"`
	SlotsCleared    int        `json:"slots_cleared"`
	SlotsSettled    int        `json:"slots_settled"`
	Trades          int        `json:"trades"`
	EnergyTradedWh  unit.Wh    `json:"energy_traded_wh"`
	EnergySettledWh unit.Wh    `json:"energy_settled_wh"`
	MoneyMoved      unit.Money `json:"money_moved"`
	Height          uint64     `json:"height"`
	StateHash       string     `json:"state_hash"`
	// NodesInSync counts the nodes that held the first authority's head
	// block of the moment the time was up within syncWait (demosync.go);
	// LagAtStop is the most blocks any node was behind it at that moment,
	// SyncWaitMs how long it took until every node held it (syncWait if
	// some never did), and Behind says, for each node that did not, how
	// far behind it is and why.
	NodesInSync int        `json:"nodes_in_sync"`
	LagAtStop   uint64     `json:"lag_at_stop"`
	SyncWaitMs  int64      `json:"sync_wait_ms"`
	Behind      []NodeLag  `json:"behind,omitempty"`
	BalanceSum  unit.Money `json:"balance_sum"`
	FirstSlot   *SlotFig   `json:"first_slot"`
}

// SlotFig is one cleared slot's price and volume.
type SlotFig struct {
	Slot   unit.Slot  `json:"slot"`
	Price  unit.Price `json:"price"`
	Volume unit.Wh    `json:"volume_wh"`
}

// Demo runs a whole simulated microgrid in this process (`gridmesh demo`): the
// authorities and the homes each get a key, a config, a genesis file, a badger
// directory, a libp2p host on loopback and an HTTP port, and run through Load and
// Run exactly as `gridmesh run -c` does.
//
// The demo network's epoch is set a few seconds after start, so slot 0 is the first
// slot anyone trades and slot numbers, like the homes' simulated meters and price
// limits, depend only on --seed: two runs with the same seed clear the same first
// slot at the same price and volume. A slot of S seconds stands for 15 minutes of a
// simulated day starting at 10:00, so the energy per slot is realistic.
func Demo(ctx context.Context, opts DemoOptions, stdout, stderr io.Writer) (err error) {
	if strconv.IntSize == 32 {
		return ErrNeed64Bit
	}
	if err := opts.validate(); err != nil {
		return err
	}
	data := opts.Data
	if data == "" {
		data, err = os.MkdirTemp("", "gridmesh-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(data)
	} else if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		return fmt.Errorf("demo: --data %s is not empty; give a new or empty directory", data)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	paths, err := WriteDemoNetwork(data, opts, time.Now())
	if err != nil {
		return err
	}
	rep := &reporter{out: stdout, json: opts.JSON}
	nodes := make([]*Node, 0, len(paths))
	defer func() {
		// Nodes that were loaded but never run are closed here.
		if err != nil {
			for _, n := range nodes {
				n.close()
			}
		}
	}()
	for i, p := range paths {
		o := Options{Log: log}
		if i == 0 {
			o.OnEvent = rep.event
		}
		n, err := Load(ctx, p, o)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	fmt.Fprintf(stdout, "gridmesh demo: %d homes, %d authorities, %s slots, for %s (seed %d), data in %s\n",
		opts.Homes, opts.Authorities, opts.Slot, opts.For, opts.Seed, data)
	for _, n := range nodes {
		fmt.Fprintf(stdout, "  %-12s %s\n", n.cfg.Node.Name, n.StatusURL())
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	for _, n := range nodes {
		g.Go(func() error { return n.Run(gctx) })
	}
	select {
	case <-time.After(opts.For):
	case <-ctx.Done():
	case <-gctx.Done():
	}
	sum := rep.summary(opts)
	c := waitInSync(ctx, nodes)
	sum.Height, sum.StateHash, sum.NodesInSync = c.height, c.stateHash, c.inSync
	sum.LagAtStop, sum.SyncWaitMs, sum.Behind = c.lagAtStop, c.waited.Milliseconds(), c.behind
	nodes[0].mu.RLock()
	for _, b := range nodes[0].chain.Balances() {
		sum.BalanceSum += b
	}
	nodes[0].mu.RUnlock()
	stop()
	if err := g.Wait(); err != nil {
		return err
	}
	nodes = nil
	return rep.print(sum)
}

func (o DemoOptions) validate() error {
	var errs []error
	if o.Homes < 1 {
		errs = append(errs, fmt.Errorf("--homes: expected at least 1, got %d", o.Homes))
	}
	if o.Authorities < 1 {
		errs = append(errs, fmt.Errorf("--authorities: expected at least 1, got %d", o.Authorities))
	}
	if o.Slot < time.Second || o.Slot%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--slot: expected whole seconds of at least 1s, got %s", o.Slot))
	}
	if o.For <= 0 {
		errs = append(errs, fmt.Errorf("--for: expected a positive duration, got %s", o.For))
	}
	return errors.Join(errs...)
}

// WriteDemoNetwork writes the network Demo runs, without running it: keys,
// configs and a shared genesis for every node under dir (a directory each,
// authorities first, then the homes with their simulated meters, home-1's
// battery and home-2's car), and returns the node.toml paths, for Load or
// `gridmesh run -c` of each. Slot 0 opens a few seconds after now. The
// whole-network tests (package node/nodetest) run it in-process. opts are
// checked as Demo checks them (a slot of whole seconds, at least one home
// and one authority).
func WriteDemoNetwork(dir string, opts DemoOptions, now time.Time) ([]string, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x67726964))
	slot := int64(opts.Slot / time.Second)
	type member struct {
		name, dir, role string
		key             ed25519.PrivateKey
		port            int
	}
	var members []member
	for i := range opts.Authorities {
		members = append(members, member{name: fmt.Sprintf("authority-%d", i+1), role: "authority"})
	}
	for i := range opts.Homes {
		members = append(members, member{name: fmt.Sprintf("home-%d", i+1), role: "home"})
	}
	gen := config.DefaultGenesis()
	gen.ChainID = "gridmesh-demo"
	gen.Dev = opts.Authorities < 4
	gen.SlotSeconds = slot
	gen.OpenLeadSeconds = 2 * slot
	gen.GateLeadSeconds = 1
	// A feed-in tariff of 0.08, retail at 0.30 and a local grid fee of 0.02 per kWh.
	gen.Tariff = config.TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	gen.AttestWindowSeconds = slot
	// Slot 0 opens once every node has had a few seconds to start.
	gen.Epoch = now.Unix() + 1 + 4 + gen.OpenLeadSeconds
	var bootstrap []string
	for i := range members {
		m := &members[i]
		m.dir = filepath.Join(dir, m.name)
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			return nil, err
		}
		key, err := config.WriteKey(filepath.Join(m.dir, "node.key"))
		if err != nil {
			return nil, err
		}
		m.key = key
		pub := key.Public().(ed25519.PublicKey)
		acct := string(ident.AccountOf(pub))
		if m.role == "authority" {
			gen.Authorities = append(gen.Authorities, config.Member{Name: m.name, Key: acct})
			port, err := portlease.TCP(10 * time.Minute)
			if err != nil {
				return nil, err
			}
			m.port = port
			id, err := peerID(pub)
			if err != nil {
				return nil, err
			}
			bootstrap = append(bootstrap, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, id))
		} else {
			gen.Participants = append(gen.Participants, config.Member{Name: m.name, Key: acct})
		}
	}
	gen.Operator = gen.Authorities[0].Key
	genBytes := gen.TOML()

	interval := min(max(opts.Slot/10, 100*time.Millisecond), time.Second)
	var paths []string
	for i, m := range members {
		if err := os.WriteFile(filepath.Join(m.dir, "genesis.toml"), genBytes, 0o600); err != nil {
			return nil, err
		}
		c := config.DefaultNode()
		c.Node.Name = m.name
		c.Node.Role = config.Role(m.role)
		c.Network.MDNS = false // the demo talks on loopback only
		c.Node.Clock = config.ClockTrust
		c.Network.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		if m.port != 0 {
			c.Network.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", m.port)}
		}
		for j, b := range bootstrap {
			if j != i {
				c.Network.Bootstrap = append(c.Network.Bootstrap, b)
			}
		}
		c.API.Listen = "127.0.0.1:0"
		c.Meter.Interval = config.Duration{Duration: interval}
		// One slot of the demo stands for 15 simulated minutes.
		c.Meter.Sim.Speed = 900 / slot
		c.Meter.Sim.Seed = opts.Seed*1000 + int64(i)
		demoHousehold(&c, i-opts.Authorities, m.name, rng)
		path := filepath.Join(m.dir, "node.toml")
		if err := os.WriteFile(path, c.TOML(), 0o600); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// demoHousehold sets member i's household (name is its node name; i counts
// the homes from 0 for home-1, the authorities before them negative): panels
// on every other home (home-1, home-3, …), a load, the homeowner's limits from rng, on home-1 a
// 10 kWh battery behind the meter and on home-2 an electric car at home by
// day (a flexible load: 8 kWh between 10:00 and 16:00 of the simulated day,
// at up to 3.7 kW and 0.20 per kWh).
func demoHousehold(c *config.Node, i int, name string, rng *rand.Rand) {
	if i%2 == 0 {
		c.Meter.Sim.PVPeakW = unit.W(3000 + rng.Int64N(4000)) // a roof full of panels
	} else {
		c.Meter.Sim.PVPeakW = unit.W(rng.Int64N(1000)) // a balcony module or none
	}
	c.Meter.Sim.LoadW = unit.W(400 + rng.Int64N(1200))
	c.Trading.SellMinPrice = unit.Price(90_000 + rng.Int64N(60_000))
	c.Trading.BuyMaxPrice = unit.Price(200_000 + rng.Int64N(80_000))
	if name == "home-1" {
		c.Battery = config.Battery{CapacityWh: 10_000, ReserveWh: 2_000, MaxChargeW: 5_000, MaxDischargeW: 5_000, EfficiencyPermille: 900, Source: "sim"}
	}
	if name == "home-2" {
		c.Flex = config.Flex{EnergyWh: 8_000, MaxPowerW: 3_700, MaxPrice: 200_000, From: "10:00", Until: "16:00", Source: "sim"}
	}
}

// reporter prints one line per chain event seen by the first authority and adds
// them up for the summary.
type reporter struct {
	mu    sync.Mutex
	out   io.Writer
	json  bool
	sum   Summary
	first *SlotFig
}

func (r *reporter) event(ev chain.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case chain.SlotCleared:
		res := ev.Result
		r.sum.SlotsCleared++
		r.sum.Trades += len(res.Trades)
		r.sum.EnergyTradedWh += res.Volume
		if res.Volume > 0 && (r.first == nil || res.Slot < r.first.Slot) {
			r.first = &SlotFig{Slot: res.Slot, Price: res.Price, Volume: res.Volume}
		}
		if res.Volume == 0 {
			fmt.Fprintf(r.out, "%s cleared: no trade (offers and bids did not cross)\n", res.Slot)
			return
		}
		fmt.Fprintf(r.out, "%s cleared: %s at %s in %d trades\n", res.Slot, res.Volume, res.Price, len(res.Trades))
	case chain.SlotSettled:
		s := ev.Settlement
		r.sum.SlotsSettled++
		r.sum.EnergySettledWh += s.Energy
		var paid unit.Money
		for _, t := range s.Trades {
			paid += t.Paid
		}
		r.sum.MoneyMoved += paid
		fmt.Fprintf(r.out, "%s settled: %s delivered, %s paid by buyers across %d accounts\n", s.Slot, s.Energy, paid, len(s.Transfers))
	}
}

func (r *reporter) summary(opts DemoOptions) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sum
	s.Homes, s.Authorities, s.FirstSlot = opts.Homes, opts.Authorities, r.first
	return s
}

func (r *reporter) print(s Summary) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.json {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.out, "%s\n", b)
		return err
	}
	fmt.Fprintf(r.out, "\nsummary: %d slots cleared, %d settled, %d trades, %s traded, %s settled, %s paid\n",
		s.SlotsCleared, s.SlotsSettled, s.Trades, s.EnergyTradedWh, s.EnergySettledWh, s.MoneyMoved)
	fmt.Fprintf(r.out, "chain: height %d, state %s, %d of %d nodes in sync, balances sum to %d\n",
		s.Height, s.StateHash, s.NodesInSync, s.Homes+s.Authorities, int64(s.BalanceSum))
	fmt.Fprintf(r.out, "sync: the slowest node was %d blocks behind when the time was up; %d of %d held that head %d ms later\n",
		s.LagAtStop, s.NodesInSync, s.Homes+s.Authorities, s.SyncWaitMs)
	for _, l := range s.Behind {
		fmt.Fprintf(r.out, "not in sync: %s: %s\n", l.Name, l.Reason)
	}
	if s.FirstSlot != nil {
		fmt.Fprintf(r.out, "first trade: %s, %s at %s\n", s.FirstSlot.Slot, s.FirstSlot.Volume, s.FirstSlot.Price)
	}
	return nil
}

// peerID is the libp2p peer id of an ed25519 node key.
func peerID(pub ed25519.PublicKey) (string, error) {
	k, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
