package sim

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
)

// Config describes one simulation. Durations are simulated milliseconds.
type Config struct {
	Seed         uint64
	Authorities  int // n, at least 1 (fewer than 4 makes a dev network)
	Byzantine    int // authorities run as Byzantine twins (the first ones in sorted order)
	Followers    int // non-voting nodes that follow the chain
	Silent       int // authorities (after the Byzantine ones) that never run: crash-faulty from the start
	Participants int

	Loss, Dup     float64 // per delivery, in chaos phases
	HealLoss      float64 // per delivery, in heal phases
	MinDelay      int64
	MaxDelay      int64
	LateDelay     int64   // a late delivery takes up to this long (reordering)
	Late          float64 // share of deliveries that are late
	Crash         float64 // per Ready of an honest node, in chaos phases
	CrashEvent    float64 // per 100 ms tick of an honest node: it crashes between inputs (chaos phases)
	MaxSkew       int64   // clock skew bound (±)
	FastClocks    int     // honest authorities whose clock runs 2.5 to 5 s ahead (beyond chain.MaxClockSkewMs)
	PruneEvery    int     // followers prune block bodies this many heights below their head (0 = never)
	ByzAct        float64 // per message a Byzantine instance sends: add a Byzantine action
	ChaosMs       int64   // length of a chaos phase
	HealMs        int64   // length of a heal phase
	LivenessBound int64   // a heal phase must see new heights within this time
	WorkEvery     int64   // one workload action per this many ms
	TraceK        int     // events in a violation's trace

	// ForgetState models a broken node rather than a faulty world: a restarted
	// honest node loses its persisted consensus State (a disk that acknowledged
	// an fsync it did not do). The double-sign check must then fire; the
	// simulator's tests use it to show that the check can fail.
	ForgetState bool
}

// DefaultConfig is the configuration the command and the tests start from.
func DefaultConfig(seed uint64, authorities, byzantine int) Config {
	return Config{
		Seed: seed, Authorities: authorities, Byzantine: byzantine, Followers: 1, Participants: 6,
		Loss: 0.05, Dup: 0.05, HealLoss: 0.01, MinDelay: 1, MaxDelay: 40, LateDelay: 1500, Late: 0.01,
		Crash: 0.01, CrashEvent: 0.002, MaxSkew: 500, ByzAct: 0.15, PruneEvery: 64,
		ChaosMs: 20_000, HealMs: 30_000, LivenessBound: 20_000, WorkEvery: 250, TraceK: 40,
	}
}

// Violation is a broken invariant.
type Violation struct {
	Seed                                      uint64
	Authorities, Byzantine, Followers, Silent int
	Step                                      int
	At                                        int64 // simulated ms
	Height                                    uint64
	Kind                                      string // agreement, prefix, certificate, double-sign, state-hash, money, settlement, liveness, commit
	Detail                                    string
	Trace                                     []string // the last events touching Height, oldest first
}

func (v *Violation) Error() string {
	return fmt.Sprintf("sim: seed %d: %s violation at step %d (t=%dms, height %d): %s", v.Seed, v.Kind, v.Step, v.At, v.Height, v.Detail)
}

// Report formats the violation with its trace.
func (v *Violation) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nreproduce: gridmesh sim chain --seed %d --authorities %d --byzantine %d --silent %d --followers %d --steps %d --segment 0\ntrace (last events touching height %d):\n",
		v.Error(), v.Seed, v.Authorities, v.Byzantine, v.Silent, v.Followers, v.Step, v.Height)
	for _, l := range v.Trace {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Stats summarises a run.
type Stats struct {
	Seed      uint64         `json:"seed"`
	Steps     int            `json:"steps"`
	Heights   uint64         `json:"heights"` // highest height committed by an honest node
	SimMs     int64          `json:"sim_ms"`
	Restarts  int            `json:"restarts"`
	Syncs     int            `json:"syncs"`
	Evidence  int            `json:"evidence"`
	Settled   int            `json:"settled"`  // slots settled (agreed)
	Rejected  int            `json:"rejected"` // messages refused at the boundary (bad signature, non-authority, other network)
	ByzActs   int            `json:"byz_acts"`
	Txs       int            `json:"txs"` // transactions committed (agreed)
	Heals     int            `json:"heals"`
	Transfers int            `json:"transfers"` // balance changes made by settlements (agreed)
	Ahead     int            `json:"ahead"`     // restarts whose State was ahead of the chain (synced first)
	Invalid   int            `json:"invalid"`   // proposals an honest authority judged invalid
	Pruned    int            `json:"pruned"`    // block bodies followers pruned
	Crashes   map[string]int `json:"crashes"`   // by crash point
	Segments  int            `json:"segments"`  // fresh networks (RunLong)
	Digest    uint64         `json:"digest"`    // FNV-1a over every message sent, in order (determinism)
}

// Sim is one simulation. It is not safe for concurrent use.
type Sim struct {
	cfg          Config
	rng          *rand.Rand
	gen          chain.Genesis
	pubs         map[ident.Account]ed25519.PublicKey
	ids          []ident.Account // sorted authority ids
	authKeys     []ed25519.PrivateKey
	nodes        []*node
	parts        []*participant
	q            queue
	now          int64
	seq          uint64
	steps        int
	startMs      int64 // wall clock at t=0
	heal         bool
	healAt       int64
	healMax      uint64 // highest honest height when the heal phase began
	livenessDone bool
	ring         traceRing
	chk          checker
	stats        Stats
	verified     map[[32]byte]bool
	certOK       map[[32]byte]error
	sent         [][]byte // recent messages of anyone, for replays
	viol         *Violation
	closed       bool
	digest       hash.Hash64
}

const otherNetwork = "gridmesh-other-net"

// New builds the network: keys, genesis, one in-memory chain per node instance.
func New(cfg Config) (*Sim, error) {
	if cfg.Authorities < 1 || cfg.Byzantine < 0 || cfg.Byzantine > cfg.Authorities || cfg.Followers < 0 || cfg.Participants < 2 ||
		cfg.Silent < 0 || cfg.FastClocks < 0 || cfg.Byzantine+cfg.Silent+cfg.FastClocks > cfg.Authorities {
		return nil, fmt.Errorf("sim: bad config: %d authorities, %d byzantine, %d followers, %d participants", cfg.Authorities, cfg.Byzantine, cfg.Followers, cfg.Participants)
	}
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		pubs: map[ident.Account]ed25519.PublicKey{}, verified: map[[32]byte]bool{}, certOK: map[[32]byte]error{}}
	s.ring.init(8192)
	s.chk.init(s)
	s.stats.Seed = cfg.Seed
	s.stats.Crashes = map[string]int{}
	s.digest = fnv.New64a()
	key := func() ed25519.PrivateKey {
		var seed [32]byte
		for i := range 4 {
			v := s.rng.Uint64()
			for j := range 8 {
				seed[i*8+j] = byte(v >> (8 * j))
			}
		}
		return ed25519.NewKeyFromSeed(seed[:])
	}
	for range cfg.Authorities {
		s.authKeys = append(s.authKeys, key())
	}
	slices.SortFunc(s.authKeys, func(a, b ed25519.PrivateKey) int {
		return strings.Compare(string(ident.AccountOf(a.Public().(ed25519.PublicKey))), string(ident.AccountOf(b.Public().(ed25519.PublicKey))))
	})
	var auths []ident.Account
	for _, k := range s.authKeys {
		pub := k.Public().(ed25519.PublicKey)
		id := ident.AccountOf(pub)
		s.ids = append(s.ids, id)
		s.pubs[id] = pub
		auths = append(auths, ident.AccountOf(pub))
	}
	op := key()
	var pre []ident.Account
	for i := range cfg.Participants {
		p := &participant{key: key(), attested: map[int64]bool{}}
		p.acct = ident.AccountOf(p.key.Public().(ed25519.PublicKey))
		p.admitted = i < cfg.Participants-1 // the last one is admitted by an Admit tx
		if p.admitted {
			pre = append(pre, p.acct)
		}
		s.parts = append(s.parts, p)
	}
	s.gen = chain.Genesis{
		ChainID: "gridmesh-sim", Epoch: 1_767_225_600, SlotSeconds: 10, OpenLeadSeconds: 25, GateLeadSeconds: 2,
		AttestWindowSeconds: 4, Authorities: auths, Participants: pre, Operator: ident.AccountOf(op.Public().(ed25519.PublicKey)),
		Tariff: market.Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}, Params: market.DefaultParams(), Dev: cfg.Authorities < chain.MinAuthorities,
	}
	s.startMs = s.gen.OpenAt(0)
	// Nodes: honest authorities, Byzantine twins, followers.
	half := 0
	for i, k := range s.authKeys {
		if i < cfg.Byzantine {
			for g := range 2 {
				if err := s.addNode(fmt.Sprintf("b%d.%d", i, g), roleByz, k, g); err != nil {
					return nil, err
				}
			}
			continue
		}
		if i < cfg.Byzantine+cfg.Silent {
			continue // silent: counted in the authority set, never runs
		}
		if err := s.addNode(fmt.Sprintf("a%d", i), roleHonest, k, half%2); err != nil {
			return nil, err
		}
		half++
	}
	for i := range cfg.Followers {
		if err := s.addNode(fmt.Sprintf("f%d", i), roleFollower, nil, i%2); err != nil {
			return nil, err
		}
	}
	fast := cfg.FastClocks
	for i := len(s.nodes) - 1; i >= 0 && fast > 0; i-- {
		if s.nodes[i].role == roleHonest {
			s.nodes[i].skew = chain.MaxClockSkewMs + 500 + s.rng.Int64N(2500)
			fast--
		}
	}
	for i, nd := range s.nodes {
		s.push(int64(s.rng.IntN(100)), i, event{kind: evTick})
		if nd.engine != nil {
			s.push(0, i, event{kind: evWork})
		}
	}
	s.push(cfg.WorkEvery, -1, event{kind: evWorkload})
	s.push(cfg.ChaosMs, -1, event{kind: evPhase})
	s.push(1000, -1, event{kind: evRepartition})
	return s, nil
}

func (s *Sim) addNode(name string, r role, key ed25519.PrivateKey, side int) error {
	c, err := chain.OpenMemory(s.gen)
	if err != nil {
		return fmt.Errorf("sim: open chain of %s: %w", name, err)
	}
	nd := &node{idx: len(s.nodes), name: name, role: r, key: key, side: side, group: 0, chain: c,
		pool: chain.NewPool(20_000), skew: s.rng.Int64N(2*s.cfg.MaxSkew+1) - s.cfg.MaxSkew}
	if key != nil {
		pub := key.Public().(ed25519.PublicKey)
		nd.id, nd.acct = ident.AccountOf(pub), ident.AccountOf(pub)
	}
	s.nodes = append(s.nodes, nd)
	if r != roleFollower {
		if err := s.startEngine(nd); err != nil {
			return err
		}
	}
	return nil
}

// Close releases every node's store.
func (s *Sim) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, nd := range s.nodes {
		errs = append(errs, nd.chain.Close())
	}
	return errors.Join(errs...)
}

// Run executes up to steps more events. It returns the first violation, if any.
func (s *Sim) Run(steps int) *Violation {
	for i := 0; i < steps && s.viol == nil; i++ {
		if s.q.len() == 0 {
			break
		}
		ev := s.q.pop()
		s.now = ev.at
		s.steps++
		s.stats.Steps = s.steps
		s.handle(ev)
		if s.viol == nil {
			s.checkLiveness()
		}
	}
	s.stats.SimMs = s.now
	s.stats.Heights = s.chk.maxHeight
	return s.viol
}

// Stats returns the figures of the run so far.
func (s *Sim) Stats() Stats {
	st := s.stats
	st.Heights = s.chk.maxHeight
	st.SimMs = s.now
	st.Settled = len(s.chk.settled)
	st.Digest = s.digest.Sum64()
	st.Crashes = maps.Clone(s.stats.Crashes)
	st.Segments = 1
	return st
}

// Run is New, Run(steps) and Close in one call.
func Run(cfg Config, steps int) (Stats, *Violation, error) {
	s, err := New(cfg)
	if err != nil {
		return Stats{}, nil, err
	}
	v := s.Run(steps)
	st := s.Stats()
	return st, v, s.Close()
}

func (s *Sim) violate(kind string, h uint64, format string, args ...any) {
	if s.viol != nil {
		return
	}
	s.viol = &Violation{Seed: s.cfg.Seed, Authorities: s.cfg.Authorities, Byzantine: s.cfg.Byzantine, Followers: s.cfg.Followers, Silent: s.cfg.Silent, Step: s.steps, At: s.now, Height: h, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	s.viol.Trace = s.ring.lastFor(h, s.cfg.TraceK, s)
}

// f is the number of faults n authorities tolerate.
func (s *Sim) f() int { return (s.cfg.Authorities - 1) / 3 }

// livenessExpected: the honest authorities with good clocks alone are a quorum
// (3h > 2n, which is 2f+1 of n = 3f+1). A fast clock makes an authority's own
// proposals invalid to the others, so it counts as a fault here.
func (s *Sim) livenessExpected() bool {
	return 3*(s.cfg.Authorities-s.cfg.Byzantine-s.cfg.Silent-s.cfg.FastClocks) > 2*s.cfg.Authorities
}
