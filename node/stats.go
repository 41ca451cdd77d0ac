package node

import (
	"errors"
	"sync/atomic"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/p2p"
)

// stats are the node's counters shown in the status (Status).
type stats struct {
	rejected atomic.Int64 // payloads from peers refused as malformed or forged
	ignored  atomic.Int64 // payloads dropped as not acceptable now (late, duplicate, unknown signer)
	evidence atomic.Int64 // conflicting signed messages seen from authorities
	// votesFetched counts consensus messages obtained by asking a peer (votes.go).
	votesFetched atomic.Int64
	// proposalsFetched counts proposals that came as tx hashes with some
	// transaction not in the pool, fetched whole (fetchProposal).
	proposalsFetched atomic.Int64
	// futureFormat counts transactions and blocks refused because they are
	// of a newer encoding format than this binary reads (chain.ErrFormat):
	// the network has moved on, and this node needs an update.
	futureFormat atomic.Int64
	// pushedBlocks counts blocks applied as their upstream pushed them
	// (head/2), not synced.
	pushedBlocks atomic.Int64
	formatLogged atomic.Bool
}

// undecodable counts a payload from a peer that did not decode and says how
// to judge it. One of a newer format (chain.ErrFormat) comes from a node of
// a later release, which is not at fault: it is ignored, counted in
// future_format and logged once, so a newer peer is not scored down by an
// older one during a rolling upgrade. Anything else is rejected.
func (n *Node) undecodable(err error) p2p.Verdict {
	if !errors.Is(err, chain.ErrFormat) {
		n.stats.rejected.Add(1)
		return p2p.Reject
	}
	n.stats.futureFormat.Add(1)
	if !n.stats.formatLogged.Swap(true) {
		n.log.Error("a peer sent data of a newer format than this binary reads: update gridmesh", "err", err)
	}
	return p2p.Ignore
}
