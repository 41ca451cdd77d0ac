package consensus

import (
	"container/heap"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/ident"
)

// The in-memory network: n engines (instances) driven by one seeded random
// scheduler. Messages are delayed, reordered, duplicated and lost; timers fire in
// simulated time; honest nodes crash and restart from their last persisted State.
// Byzantine validators are twins (two instances sharing one key, each in its own
// partition), which covers equivocating proposals and double votes.

type simConfig struct {
	n         int     // validators
	twins     int     // how many validators (the first ones in sorted order) run as twins
	heights   int     // stop when every honest instance decided this many
	loss, dup float64 // per delivery
	maxDelay  time.Duration
	crash     float64 // per Ready of an honest instance: crash after persisting, before sending
	limit     time.Duration
}

type simNode struct {
	name      string
	id        ident.Account
	group     int // -1 = talks to all; twins: 0 or 1, talks to -1 and its own group
	honest    bool
	cfg       Config
	e         *Engine
	persisted *State
	decided   []ident.Hash
	down      bool
	epoch     int
	syncAt    time.Duration // no block-sync request before this time
}

type simEvent struct {
	at    time.Duration
	seq   int
	to    int
	epoch int
	in    Input // nil = restart
}

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type sim struct {
	t          testing.TB
	cfg        simConfig
	rng        *rand.Rand
	tv         testVals
	nodes      []*simNode
	q          eventQueue
	now        time.Duration
	seq        int
	agreed     map[uint64]ident.Hash
	signed     map[string]Message // honest validators' signatures: (id, h, r, type) -> message
	violations []string
	evidence   int
	steps      int
	certs      map[uint64]Decision // first decision of each height (block sync source)
	catchups   int
	restarts   int
	trace      hash.Hash // every message sent, in order (determinism check)
}

func newSim(t testing.TB, seed uint64, c simConfig) *sim {
	s := &sim{t: t, cfg: c, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), tv: newTestVals(c.n),
		agreed: map[uint64]ident.Hash{}, signed: map[string]Message{}, certs: map[uint64]Decision{}, trace: sha256.New()}
	for i, id := range s.tv.ids {
		cfg := s.tv.config(id)
		if i < c.twins {
			for g := range 2 {
				s.nodes = append(s.nodes, &simNode{name: fmt.Sprintf("v%d/twin%d", i, g), id: id, group: g, cfg: cfg})
			}
			continue
		}
		group := -1
		if c.twins >= 2 {
			group = i % 2 // the honest nodes are partitioned too: each side sees one twin of each
		}
		s.nodes = append(s.nodes, &simNode{name: fmt.Sprintf("v%d", i), id: id, group: group, honest: true, cfg: cfg})
	}
	for i, nd := range s.nodes {
		nd.e = mustNew(t, nd.cfg, 1, nil)
		s.push(time.Duration(s.rng.IntN(5))*time.Millisecond, i, Work{})
		s.push(200*time.Millisecond, i, Timeout{Kind: TimeoutRebroadcast})
	}
	return s
}

func (s *sim) push(after time.Duration, to int, in Input) {
	s.seq++
	heap.Push(&s.q, simEvent{at: s.now + after, seq: s.seq, to: to, epoch: s.nodes[to].epoch, in: in})
}

func (s *sim) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf("t=%v: ", s.now)+fmt.Sprintf(format, args...))
}

func linked(a, b *simNode) bool { return a.group == -1 || b.group == -1 || a.group == b.group }

// run executes events until every honest instance decided cfg.heights heights or
// the simulated time limit passes. It reports whether progress was made.
func (s *sim) run() bool {
	for s.q.Len() > 0 && len(s.violations) == 0 {
		if s.done() {
			return true
		}
		ev := heap.Pop(&s.q).(simEvent)
		s.now = ev.at
		if s.now > s.cfg.limit {
			return false
		}
		nd := s.nodes[ev.to]
		if ev.epoch != nd.epoch {
			continue // lost in a crash
		}
		s.steps++
		if ev.in == nil { // restart
			nd.down = false
			s.restarts++
			e, err := New(nd.cfg, uint64(len(nd.decided))+1, nd.persisted)
			if err != nil {
				s.violate("%s restart: %v", nd.name, err)
				continue
			}
			nd.e = e
			s.push(0, ev.to, Work{})
			s.push(200*time.Millisecond, ev.to, Timeout{Kind: TimeoutRebroadcast})
			s.process(ev.to)
			continue
		}
		if nd.down {
			continue
		}
		_ = nd.e.Step(ev.in)
		if m, ok := ev.in.(Message); ok && m.Height > nd.e.Height() {
			s.blockSync(ev.to)
		}
		if t, ok := ev.in.(Timeout); ok && t.Kind == TimeoutRebroadcast {
			s.push(200*time.Millisecond, ev.to, t)
		}
		s.process(ev.to)
	}
	return s.done()
}

// blockSync models the sync protocol: a node that sees messages of a later height
// fetches the block and certificate of its current height from a peer.
func (s *sim) blockSync(i int) {
	nd := s.nodes[i]
	d, ok := s.certs[nd.e.Height()]
	if !ok || s.now < nd.syncAt {
		return
	}
	nd.syncAt = s.now + 100*time.Millisecond
	s.catchups++
	s.push(time.Duration(s.rng.Int64N(int64(s.cfg.maxDelay)+1)), i, Commit{Height: d.Height, Value: d.Value, ID: d.ValueID, Commit: d.Commit})
}

func (s *sim) done() bool {
	for _, nd := range s.nodes {
		if nd.honest && len(nd.decided) < s.cfg.heights {
			return false
		}
	}
	return true
}

// process carries out the engine's Ready in the documented order.
func (s *sim) process(i int) {
	nd := s.nodes[i]
	for !nd.down && nd.e.HasReady() {
		rd := nd.e.Ready()
		if rd.State != nil {
			st := rd.State.clone()
			nd.persisted = &st
		}
		if nd.honest && s.rng.Float64() < s.cfg.crash {
			// Crash after the fsync, before anything is sent: all else is lost.
			nd.down = true
			nd.epoch++
			s.push(time.Duration(50+s.rng.IntN(250))*time.Millisecond, i, nil)
			return
		}
		for _, m := range rd.Messages {
			s.trace.Write(m.Encode())
			s.checkSigned(nd, m)
			for j, to := range s.nodes {
				if j == i || !linked(nd, to) {
					continue
				}
				for range 1 + b2i(s.rng.Float64() < s.cfg.dup) {
					if s.rng.Float64() < s.cfg.loss {
						continue
					}
					s.push(time.Duration(s.rng.Int64N(int64(s.cfg.maxDelay)+1)), j, m)
				}
			}
		}
		for _, t := range rd.Timers {
			s.push(t.Duration, i, t.Timeout)
		}
		for _, d := range rd.Decided {
			s.checkDecision(nd, d)
			s.push(time.Duration(s.rng.IntN(20))*time.Millisecond, i, Work{})
		}
		s.evidence += len(rd.Evidence)
		if b := rd.Build; b != nil {
			v := fmt.Appendf(nil, "%s h%d r%d", nd.name, b.Height, b.Round)
			_ = nd.e.Step(Proposed{Height: b.Height, Round: b.Round, Value: v, ID: valueID(v)})
		}
		for _, v := range rd.Validate {
			_ = nd.e.Step(Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: valueID(v.Value) == v.ID})
		}
		nd.e.Advance()
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkSigned: an honest validator never signs two different messages for one
// (height, round, type), across crashes and restarts.
func (s *sim) checkSigned(nd *simNode, m Message) {
	if !nd.honest || m.From != nd.id {
		return // others' messages are re-gossiped (valid polka)
	}
	if err := m.Verify(testChain, s.tv.pubs[m.From]); err != nil {
		s.violate("%s sent a badly signed message: %v", nd.name, err)
	}
	k := fmt.Sprintf("%s/%d/%d/%d", m.From, m.Height, m.Round, m.Type)
	if prev, ok := s.signed[k]; ok && (prev.ValueID != m.ValueID || prev.ValidRound != m.ValidRound) {
		s.violate("%s double-signed %s h%d r%d: %s then %s", nd.name, m.Type, m.Height, m.Round, prev.ValueID, m.ValueID)
	}
	s.signed[k] = m
}

// checkDecision: heights in order, valid certificate, agreement among honest nodes.
func (s *sim) checkDecision(nd *simNode, d Decision) {
	if d.Height != uint64(len(nd.decided))+1 {
		s.violate("%s decided height %d after %d", nd.name, d.Height, len(nd.decided))
	}
	nd.decided = append(nd.decided, d.ValueID)
	if err := VerifyCommit(testChain, s.tv.pubs, d.Height, d.ValueID, d.Commit); err != nil {
		s.violate("%s decision at %d has a bad certificate: %v", nd.name, d.Height, err)
	}
	if valueID(d.Value) != d.ValueID {
		s.violate("%s decided a value that does not match its id", nd.name)
	}
	if !nd.honest {
		return
	}
	if _, ok := s.certs[d.Height]; !ok {
		s.certs[d.Height] = d
	}
	if prev, ok := s.agreed[d.Height]; ok && prev != d.ValueID {
		s.violate("agreement: %s decided %s at height %d, another honest node %s", nd.name, d.ValueID, d.Height, prev)
	}
	s.agreed[d.Height] = d.ValueID
}

func defaultSim() simConfig {
	return simConfig{n: 4, heights: 5, loss: 0.1, dup: 0.05, maxDelay: 40 * time.Millisecond,
		crash: 0.01, limit: 120 * time.Second}
}

// seeds is how many seeds a network test runs: -sim.seeds, or full (short with -short).
func seeds(t *testing.T, full, short int) int {
	if *simSeeds > 0 {
		return *simSeeds
	}
	if testing.Short() {
		return short
	}
	return full
}

func TestNetworkAgreementAndProgress(t *testing.T) {
	totalSteps, catchups := 0, 0
	n := seeds(t, 25, 8)
	for seed := range uint64(n) {
		s := newSim(t, seed, defaultSim())
		ok := s.run()
		if len(s.violations) > 0 {
			t.Fatalf("seed %d: violations: %v", seed, s.violations)
		}
		if !ok {
			t.Fatalf("seed %d: no progress by t=%v: decided %v", seed, s.now, s.progress())
		}
		if s.evidence != 0 {
			t.Errorf("seed %d: got %d evidence from honest nodes, want 0", seed, s.evidence)
		}
		totalSteps += s.steps
		catchups += s.catchups
	}
	t.Logf("%d seeds, %d simulated steps, %d block syncs", n, totalSteps, catchups)
}

func TestNetworkOneTwinIsTolerated(t *testing.T) {
	evidence := 0
	for seed := range uint64(seeds(t, 20, 5)) {
		c := defaultSim()
		c.twins = 1
		c.heights = 4
		s := newSim(t, seed, c)
		ok := s.run()
		if len(s.violations) > 0 {
			t.Fatalf("seed %d: violations with f=1 Byzantine of 4: %v", seed, s.violations)
		}
		if !ok {
			t.Fatalf("seed %d: no progress by t=%v: decided %v", seed, s.now, s.progress())
		}
		evidence += s.evidence
	}
	if evidence == 0 {
		t.Errorf("got no evidence from an equivocating twin over all seeds, want some")
	}
}

// The checker can fail: with 2 of 4 validators Byzantine (twins), agreement breaks.
func TestNetworkTwoTwinsBreakAgreement(t *testing.T) {
	found := 0
	n := seeds(t, 10, 3)
	for seed := range uint64(n) {
		c := defaultSim()
		c.twins = 2
		c.heights = 3
		c.limit = 20 * time.Second
		s := newSim(t, seed, c)
		s.run()
		if len(s.violations) > 0 {
			found++
		}
	}
	if found == 0 {
		t.Fatalf("got no violation in %d seeds with 2 of 4 Byzantine, want the checker to find one", n)
	}
	t.Logf("violations found in %d of %d seeds", found, n)
}

func (s *sim) progress() []int {
	var out []int
	for _, nd := range s.nodes {
		out = append(out, len(nd.decided))
	}
	return out
}

var _ = ed25519.PublicKeySize

// The engines are deterministic: one seed, one trace (no map-order dependence).
func TestNetworkIsDeterministic(t *testing.T) {
	run := func() ([]byte, int) {
		c := defaultSim()
		c.twins = 1
		c.crash = 0.03
		s := newSim(t, 42, c)
		s.run()
		return s.trace.Sum(nil), s.steps
	}
	h1, n1 := run()
	h2, n2 := run()
	if string(h1) != string(h2) || n1 != n2 {
		t.Fatalf("same seed, different runs: %x/%d vs %x/%d", h1, n1, h2, n2)
	}
}
