package consensus

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
)

// node is what the cluster drives: an honest *Engine, or a Byzantine wrapper
// around one (lockBreaker).
type node interface {
	Step(Input) error
	HasReady() bool
	Ready() Ready
	Advance()
}

// cluster is 4 engines wired by hand: the test decides which message reaches whom.
type cluster struct {
	t       *testing.T
	tv      testVals
	es      []node
	sent    [][]Message
	decided [][]Decision
}

// newCluster starts 4 honest engines, except that the validators listed in
// breakers run as lockBreakers.
func newCluster(t *testing.T, breakers ...int) *cluster {
	c := &cluster{t: t, tv: newTestVals(4), sent: make([][]Message, 4), decided: make([][]Decision, 4)}
	for i, id := range c.tv.ids {
		cfg := c.tv.config(id)
		e := mustNew(t, cfg, 1, nil)
		if slices.Contains(breakers, i) {
			c.es = append(c.es, newLockBreaker(e, cfg))
			continue
		}
		c.es = append(c.es, e)
	}
	return c
}

// step feeds engine i and carries out its Ready: the app builds "v<i> h r" and
// finds every value valid; messages are logged, not delivered.
func (c *cluster) step(i int, in Input) {
	_ = c.es[i].Step(in)
	for c.es[i].HasReady() {
		rd := c.es[i].Ready()
		c.sent[i] = append(c.sent[i], rd.Messages...)
		c.decided[i] = append(c.decided[i], rd.Decided...)
		if b := rd.Build; b != nil {
			v := fmt.Appendf(nil, "v%d h%d r%d", i, b.Height, b.Round)
			_ = c.es[i].Step(Proposed{Height: b.Height, Round: b.Round, Value: v, ID: valueID(v)})
		}
		for _, v := range rd.Validate {
			_ = c.es[i].Step(Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: true})
		}
		c.es[i].Advance()
	}
}

// send delivers what from signed of type typ in round r to each of to.
func (c *cluster) send(from int, typ MsgType, r int32, to ...int) {
	for _, m := range c.sent[from] {
		if m.Type == typ && m.Round == r && m.From == c.tv.ids[from] {
			for _, j := range to {
				c.step(j, m)
			}
		}
	}
}

// agreement is the checker: no two nodes decide different values at one height.
func agreement(decided [][]Decision) error {
	seen := map[uint64]ident.Hash{}
	for i, ds := range decided {
		for _, d := range ds {
			if prev, ok := seen[d.Height]; ok && prev != d.ValueID {
				return fmt.Errorf("agreement violated at height %d: node %d decided %s, another %s", d.Height, i, d.ValueID, prev)
			}
			seen[d.Height] = d.ValueID
		}
	}
	return nil
}

// lockScenario: v1 proposes x in round 0; v0, v1, v3 see the polka, lock and
// precommit x; only v0 sees their precommits and decides x. v2 (proposer of round 1)
// saw no polka and proposes y. Locked v1 and v3 must prevote nil in round 1.
func lockScenario(t *testing.T, breakers ...int) *cluster {
	c := newCluster(t, breakers...)
	for i := range 4 {
		c.step(i, Work{})
	}
	c.send(1, Proposal, 0, 0, 2, 3)
	for _, to := range []int{0, 1, 3} {
		for from := range 4 {
			if from != to {
				c.send(from, Prevote, 0, to)
			}
		}
	}
	c.step(2, Timeout{TimeoutPrevote, 1, 0})
	c.send(1, Precommit, 0, 0, 2, 3)
	c.send(3, Precommit, 0, 0, 1, 2)
	c.send(2, Precommit, 0, 1, 3)
	if len(c.decided[0]) != 1 {
		t.Fatalf("setup: v0 decided %d values, want 1", len(c.decided[0]))
	}
	for _, i := range []int{1, 2, 3} {
		c.step(i, Timeout{TimeoutPrecommit, 1, 0})
	}
	c.send(2, Proposal, 1, 1, 3)
	for _, from := range []int{1, 2, 3} {
		for _, to := range []int{1, 2, 3} {
			if from != to {
				c.send(from, Prevote, 1, to)
			}
		}
	}
	for _, from := range []int{1, 2, 3} {
		for _, to := range []int{1, 2, 3} {
			if from != to {
				c.send(from, Precommit, 1, to)
			}
		}
	}
	return c
}

func TestLockingPreventsConflictingDecision(t *testing.T) {
	c := lockScenario(t)
	if err := agreement(c.decided); err != nil {
		t.Fatalf("with the locking rule: %v", err)
	}
	for _, i := range []int{1, 3} {
		for _, m := range c.sent[i] {
			if m.Type == Prevote && m.Round == 1 && !m.ValueID.IsZero() {
				t.Fatalf("locked v%d prevoted %s in round 1, want nil", i, m.ValueID)
			}
		}
	}
}

// The checker can fail: when the locked validators v1 and v3 ignore their lock
// (lockBreaker: the honest engine plus a prevote for y signed with their key),
// the same schedule makes v1..v3 decide y while v0 decided x.
func TestBrokenLockingIsCaught(t *testing.T) {
	c := lockScenario(t, 1, 3)
	for _, i := range []int{1, 3} {
		if n := c.es[i].(*lockBreaker).forged; n == 0 {
			t.Fatalf("v%d forged no prevote against its lock: the scenario no longer reaches the locking rule", i)
		}
	}
	err := agreement(c.decided)
	if err == nil {
		t.Fatalf("got no violation with the locking rule broken, want the checker to find one; decided %v", c.decided)
	}
	t.Logf("checker: %v", err)
}

// lockBreaker is a Byzantine validator built around an honest engine, in the
// style of CometBFT's e2e perturbations: the engine runs unchanged, and
// whenever it prevotes nil in a round whose proposal it judged valid (which a
// lock forces, lines 23-27 and 29-33), the wrapper also signs a prevote for
// that proposal with the validator's key and sends it, and steps it into its
// own engine as if it had come back from the network (so the engine counts
// it, and may then lock on and precommit that value, line 36). The engine's
// own safety rules are untouched: breaking them takes a key, not a flag.
type lockBreaker struct {
	e         *Engine
	cfg       Config
	proposals map[int32]Message   // the round's proposal, as stepped in or sent
	valid     map[ident.Hash]bool // verdicts given to the engine
	echo      []Message           // forged prevotes to step in after Advance
	forged    int
}

func newLockBreaker(e *Engine, cfg Config) *lockBreaker {
	return &lockBreaker{e: e, cfg: cfg, proposals: map[int32]Message{}, valid: map[ident.Hash]bool{}}
}

func (b *lockBreaker) Step(in Input) error {
	switch in := in.(type) {
	case Message:
		if in.Type == Proposal && in.Height == b.e.Height() {
			b.proposals[in.Round] = in
		}
	case Validated:
		b.valid[in.ID] = in.Valid
	case Proposed:
		b.valid[in.ID] = true
	}
	return b.e.Step(in)
}

func (b *lockBreaker) HasReady() bool { return b.e.HasReady() || len(b.echo) > 0 }

func (b *lockBreaker) Ready() Ready {
	rd := b.e.Ready()
	for _, m := range rd.Messages {
		if m.Type == Proposal && m.From == b.cfg.Self {
			b.proposals[m.Round] = m
		}
	}
	var forged []Message
	for _, m := range rd.Messages {
		p, ok := b.proposals[m.Round]
		if m.Type != Prevote || m.From != b.cfg.Self || !m.ValueID.IsZero() || !ok || p.Height != m.Height || !b.valid[p.ValueID] {
			continue
		}
		f := Message{Type: Prevote, Height: m.Height, Round: m.Round, ValueID: p.ValueID, ValidRound: -1, From: b.cfg.Self}
		f.Sig = b.cfg.Signer.Sign(f.SignBytes(b.cfg.ChainID))
		forged = append(forged, f)
	}
	b.forged += len(forged)
	b.echo = append(b.echo, forged...)
	rd.Messages = append(rd.Messages, forged...)
	return rd
}

func (b *lockBreaker) Advance() {
	b.e.Advance()
	echo := b.echo
	b.echo = nil
	for _, m := range echo {
		_ = b.e.Step(m)
	}
}
