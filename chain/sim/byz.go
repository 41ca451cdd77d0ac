package sim

import (
	"crypto/ed25519"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
)

// mischief is what a Byzantine instance does beside running the production
// engine (whose twin already equivocates): one action, chosen at random, around
// the message m it just sent.
func (s *Sim) mischief(nd *node, m consensus.Message) {
	s.stats.ByzActs++
	switch s.rng.IntN(6) {
	case 0: // equivocating proposer: a second block for the same round
		if m.Type != consensus.Proposal {
			return
		}
		blk, _ := nd.chain.Propose(s.clock(nd)+1+s.rng.Int64N(300), nd.acct, nil)
		s.sendSome(nd, s.propose(nd, m, blk), "byz: second proposal")
	case 1: // invalid block with a valid signature (wrong state hash, time far ahead, or a forged tx)
		if m.Type != consensus.Proposal {
			return
		}
		blk, _ := nd.chain.Propose(s.clock(nd), nd.acct, nil)
		switch s.rng.IntN(3) {
		case 0:
			blk.Header.StateHash[s.rng.IntN(32)] ^= 0xff
		case 1:
			blk.Header.Time += 60_000
		case 2: // a transaction whose signature does not verify, with a matching tx root
			p := s.parts[s.rng.IntN(len(s.parts))]
			tx := chain.Tx{ChainID: s.gen.ChainID, Kind: chain.TxOrder, From: p.acct, Nonce: s.rng.Uint64(),
				Order: &chain.Order{Side: market.Buy, Slot: s.gen.SlotAt(s.clock(nd)) + 2, Energy: 100, Price: s.gen.Tariff.Ceiling}}
			tx.Sign(p.key)
			tx.Sig[0] ^= 1
			blk.Txs = append(blk.Txs, tx)
			blk.Header.TxRoot = chain.TxRoot(blk.Txs)
		}
		s.sendSome(nd, s.propose(nd, m, blk), "byz: invalid block")
	case 2: // double vote
		if m.Type == consensus.Proposal {
			return
		}
		v := m
		if v.ValueID.IsZero() {
			v.ValueID[0], v.ValueID[1] = byte(s.rng.Uint32()), 1
		} else {
			v.ValueID = ident.Hash{}
		}
		v.Sig = ed25519.Sign(nd.key, v.SignBytes(s.gen.ChainID))
		s.sendSome(nd, v, "byz: double vote")
	case 3: // replay an old message of anyone to one node
		if len(s.sent) == 0 {
			return
		}
		data := s.sent[s.rng.IntN(len(s.sent))]
		j := s.rng.IntN(len(s.nodes))
		s.trace(nd.idx, "byz: replay", m.Height, m.Round, m.Type, m.ValueID, int64(j))
		s.deliver(nd, j, event{kind: evMsg, data: data})
	case 4: // the same message signed for another network
		v := m
		v.Sig = ed25519.Sign(nd.key, v.SignBytes(otherNetwork))
		s.sendSome(nd, v, "byz: other network")
	case 5: // a vote from a non-authority (a participant's key)
		p := s.parts[s.rng.IntN(len(s.parts))]
		v := consensus.Message{Type: consensus.Prevote, Height: m.Height, Round: m.Round, ValueID: m.ValueID, ValidRound: -1,
			From: ident.Account(p.acct)}
		v.Sig = ed25519.Sign(p.key, v.SignBytes(s.gen.ChainID))
		s.sendSome(nd, v, "byz: non-authority vote")
	}
}

// propose signs a proposal of blk for m's height and round with nd's key.
func (s *Sim) propose(nd *node, m consensus.Message, blk chain.Block) consensus.Message {
	v := consensus.Message{Type: consensus.Proposal, Height: m.Height, Round: m.Round, ValueID: ident.Hash(blk.Hash()),
		ValidRound: -1, Value: blk.Encode(), From: nd.id}
	v.Sig = ed25519.Sign(nd.key, v.SignBytes(s.gen.ChainID))
	return v
}

// sendSome sends m to a random subset of nd's links (all the others get what the
// engine sent).
func (s *Sim) sendSome(nd *node, m consensus.Message, what string) {
	data := m.Encode()
	s.trace(nd.idx, what, m.Height, m.Round, m.Type, m.ValueID, 0)
	s.remember(data)
	for _, p := range s.nodes {
		if s.linked(nd, p) && s.rng.IntN(2) == 0 {
			s.deliver(nd, p.idx, event{kind: evMsg, data: data})
		}
	}
}
