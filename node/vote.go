package node

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"slices"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// Vote handling: an authority's consensus messages go straight to the other
// authorities over vote/2 (sendVote; node/doc.go), and each one received is
// checked against the authority set of its height before it reaches the
// loop (admitVote). A proposal whose transactions are not all in the pool is
// fetched whole (fetch.go).

// sendVote sends a consensus message of ours straight to the other
// authorities in ids (p2p.Send: one copy each, over a stream kept open), and
// publishes it on the consensus topic for observers, if any. Among 4 authorities,
// gossip delivered each vote about three times, in a signed envelope.
func (n *Node) sendVote(ctx context.Context, m consensus.Message, ids []ident.Account) {
	b := n.voteFrame(m)
	for _, id := range ids {
		if ident.Account(id) == n.self {
			continue
		}
		pid, err := peerIDOf(ident.Account(id))
		if err == nil {
			err = n.host.Send(pid, wire.VoteProto, b)
		}
		if err != nil && ctx.Err() == nil {
			n.log.Debug("send vote", "to", id, "err", err)
		}
	}
	if len(n.csTopic.Peers()) == 0 {
		return // no observer: spare the envelope's signature
	}
	if err := n.csTopic.Publish(ctx, wire.EncodeVote(m)); err != nil && ctx.Err() == nil {
		n.log.Debug("publish vote", "err", err)
	}
}

// voteFrame is wire.EncodeVoteFrame, keeping a proposal's frame: the engine
// re-broadcasts its proposal every few seconds while the height is
// undecided, and encoding one (decoding the block, hashing its
// transactions) is the costly part. Called from the loop only.
func (n *Node) voteFrame(m consensus.Message) []byte {
	if m.Type != consensus.Proposal {
		return wire.EncodeVoteFrame(m)
	}
	if c := &n.lastProposal; c.sig != string(m.Sig) {
		c.sig, c.frame = string(m.Sig), wire.EncodeVoteFrame(m)
	}
	return n.lastProposal.frame
}

// allowVotes admits the authorities of the next two heights to the vote
// stream; any other peer's stream is reset unread and counted as ignored.
func (n *Node) allowVotes(from ed25519.PublicKey) bool {
	if n.isNearAuthority(from) {
		return true
	}
	n.stats.ignored.Add(1)
	return false
}

// receiveVote takes a consensus message another authority sent straight to
// this one. Only the authorities of the next two heights may open the stream
// (allowVotes).
func (n *Node) receiveVote(ctx context.Context, from ed25519.PublicKey, payload []byte) p2p.Verdict {
	m, missing, err := wire.DecodeVoteFrame(payload, n.pool.Get)
	if err != nil {
		return n.undecodable(err)
	}
	if missing > 0 {
		n.fetchProposal(ctx, from, m)
		return p2p.Ignore
	}
	v := n.admitVote(m) // counts what it refuses
	if v == p2p.Accept {
		send(ctx, n.voteIn, m)
	}
	return v
}

// validateConsensus is the consensus topic's validator (the topic only feeds
// observers): a vote, checked against the authority set of its height. The
// topic carries nothing else: any other payload is rejected.
func (n *Node) validateConsensus(from ed25519.PublicKey, payload []byte) p2p.Verdict {
	m, err := wire.DecodeVote(payload)
	if err != nil {
		return n.undecodable(err)
	}
	return n.admitVote(m)
}

// admitVote checks a decoded consensus message against the authority set of
// its height and its signature, counting what it refuses.
func (n *Node) admitVote(m consensus.Message) p2p.Verdict {
	pub, ok := n.validatorsAt(m.Height)[m.From]
	if !ok {
		// Not an authority in this node's view, which may lag an authority
		// change: not proof that the sending peer misbehaves.
		n.stats.ignored.Add(1)
		return p2p.Ignore
	}
	if m.Verify(n.gen.ChainID, pub) != nil {
		n.stats.rejected.Add(1)
		return p2p.Reject
	}
	n.seen(ident.Account(m.From), m.Height-1)
	return p2p.Accept
}

// seen records that authority a has claimed height h (by a signed vote of
// the height after it, or in a sync answer). bestSeen, the height this node
// tries to catch up to, is the (f+1)-th highest claim among the authorities of
// the next two heights: f lying authorities cannot make it chase a height no
// honest one has.
func (n *Node) seen(a ident.Account, h uint64) {
	set := n.nearAuthorities()
	n.heardMu.Lock()
	if h > n.heard[a] {
		n.heard[a] = h
	}
	claims := make([]uint64, 0, len(set))
	for _, x := range set {
		claims = append(claims, n.heard[x])
	}
	n.heardMu.Unlock()
	slices.SortFunc(claims, func(x, y uint64) int { return cmp.Compare(y, x) })
	f := (len(set) - 1) / 3
	if len(claims) <= f {
		return
	}
	best := claims[f]
	for {
		cur := n.bestSeen.Load()
		if best <= cur || n.bestSeen.CompareAndSwap(cur, best) {
			return
		}
	}
}

func send[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}
