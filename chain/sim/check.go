package sim

import (
	"crypto/sha256"
	"fmt"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

type signKey struct {
	from ident.Account
	h    uint64
	r    int32
	typ  consensus.MsgType
}

type signVal struct {
	id ident.Hash
	vr int32
}

// checker holds what the invariants compare across nodes.
type checker struct {
	s         *Sim
	agreed    map[uint64]ident.Hash // block hash per height, first honest commit
	stateHash map[uint64]ident.Hash
	maxHeight uint64
	sigs      map[signKey]signVal // every message an honest authority signed and sent
	settled   map[unit.Slot][32]byte
	cleared   map[unit.Slot][32]byte
	honestID  map[ident.Account]bool
}

func (c *checker) init(s *Sim) {
	c.s = s
	c.agreed, c.stateHash = map[uint64]ident.Hash{}, map[uint64]ident.Hash{}
	c.sigs = map[signKey]signVal{}
	c.settled, c.cleared = map[unit.Slot][32]byte{}, map[unit.Slot][32]byte{}
	c.honestID = map[ident.Account]bool{}
}

// signed: an honest authority never signs two different messages for one
// (height, round, type), across crashes and restarts.
func (c *checker) signed(nd *node, m consensus.Message) {
	if len(c.honestID) == 0 {
		for _, n := range c.s.nodes {
			if n.role == roleHonest {
				c.honestID[n.id] = true
			}
		}
	}
	k := signKey{m.From, m.Height, m.Round, m.Type}
	v := signVal{m.ValueID, m.ValidRound}
	if prev, ok := c.sigs[k]; ok && prev != v {
		c.s.violate("double-sign", m.Height, "honest %s signed %s h%d r%d twice: %s (vr %d) then %s (vr %d)",
			nd.name, m.Type, m.Height, m.Round, prev.id, prev.vr, v.id, v.vr)
		return
	}
	c.sigs[k] = v
}

// evidence: an engine reported two conflicting messages; they must not be an
// honest authority's.
func (c *checker) evidence(nd *node, e consensus.Evidence) {
	for _, n := range c.s.nodes {
		if n.role == roleHonest && n.id == e.A.From {
			c.s.violate("double-sign", e.A.Height, "%s holds evidence that honest %s equivocated: %s h%d r%d %s vs %s",
				nd.name, n.name, e.A.Type, e.A.Height, e.A.Round, e.A.ValueID.Short(), e.B.ValueID.Short())
			return
		}
	}
}

// prune forgets signatures far below every honest node's height: an honest
// node signs only at its chain height + 1 (and re-sends its last precommit of
// the height before).
func (c *checker) prune(s *Sim) {
	low := uint64(1<<63 - 1)
	for _, nd := range s.nodes {
		if nd.role == roleHonest {
			low = min(low, s.height(nd))
		}
	}
	if low < 4 {
		return
	}
	for k := range c.sigs {
		if k.h < low-2 {
			delete(c.sigs, k)
		}
	}
}

// committed runs the per-commit invariants for an honest node or follower.
func (c *checker) committed(nd *node, blk chain.Block, cert []byte, events []chain.Event) {
	s := c.s
	h := blk.Header.Height
	hash := blk.Hash()
	st := nd.chain.Status()
	if st.Height != h {
		s.violate("commit", h, "%s committed height %d but its head is %d", nd.name, h, st.Height)
		return
	}
	if prev, ok := c.agreed[h]; ok && prev != hash {
		s.violate("agreement", h, "%s committed %s at height %d, another honest node committed %s", nd.name, hash, h, prev)
		return
	}
	if h > 1 {
		if parent, ok := c.agreed[h-1]; ok && blk.Header.Parent != parent {
			s.violate("prefix", h, "%s committed a block at %d whose parent %s is not the agreed block %s", nd.name, h, blk.Header.Parent, parent)
			return
		}
	}
	if err := s.verifyCert(h, hash, cert); err != nil {
		s.violate("certificate", h, "%s committed block %d with a bad certificate: %v", nd.name, h, err)
		return
	}
	if st.StateHash != blk.Header.StateHash {
		s.violate("state-hash", h, "%s state hash %s after block %d, header says %s", nd.name, st.StateHash, h, blk.Header.StateHash)
		return
	}
	if prev, ok := c.stateHash[h]; ok && prev != st.StateHash {
		s.violate("state-hash", h, "%s has state hash %s at height %d, another node %s", nd.name, st.StateHash, h, prev)
		return
	}
	if _, ok := c.agreed[h]; !ok {
		c.agreed[h] = hash
		c.stateHash[h] = st.StateHash
		s.stats.Txs += len(blk.Txs)
		c.maxHeight = max(c.maxHeight, h)
	}
	var sum unit.Money
	for _, m := range nd.chain.Balances() {
		sum += m
	}
	if sum != 0 {
		s.violate("money", h, "%s balances sum to %d after block %d, want 0", nd.name, sum, h)
		return
	}
	for _, ev := range events {
		switch e := ev.(type) {
		case chain.SlotSettled:
			if nd.settled == nil {
				nd.settled = map[unit.Slot]bool{}
			}
			if nd.settled[e.Slot] {
				s.violate("settlement", h, "%s settled slot %d twice (again at block %d)", nd.name, e.Slot, h)
				return
			}
			nd.settled[e.Slot] = true
			var total unit.Money
			for _, t := range e.Settlement.Transfers {
				total += t.Amount
			}
			if total != 0 {
				s.violate("money", h, "%s: settlement of slot %d moves %d in total, want 0", nd.name, e.Slot, total)
				return
			}
			d := sha256.Sum256(fmt.Appendf(nil, "%v", e.Settlement))
			if prev, ok := c.settled[e.Slot]; ok && prev != d {
				s.violate("settlement", h, "%s settled slot %d differently from another node", nd.name, e.Slot)
				return
			}
			if _, ok := c.settled[e.Slot]; !ok {
				s.stats.Transfers += len(e.Settlement.Transfers)
			}
			c.settled[e.Slot] = d
		case chain.SlotCleared:
			d := sha256.Sum256(fmt.Appendf(nil, "%v", e.Result))
			if prev, ok := c.cleared[e.Slot]; ok && prev != d {
				s.violate("settlement", h, "%s cleared slot %d differently from another node", nd.name, e.Slot)
				return
			}
			c.cleared[e.Slot] = d
		}
	}
}
