package node

import (
	"context"
	"crypto/ed25519"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
)

// fetchProposal asks the sender of a proposal whose transactions this node
// does not all hold (they may still be on their way, or this node did not
// accept one) for the round's messages, whole; they go through voteIn like
// any vote. Only the proposer of that height and round, sending its own
// proposal (the engine re-broadcasts no one else's), for a height this node
// is near, is asked, and only as often as fetchPolicy allows.
func (n *Node) fetchProposal(ctx context.Context, from ed25519.PublicKey, m consensus.Message) {
	ids := slices.Sorted(slices.Values(consensusIDs(n.authoritiesAt(m.Height))))
	if len(ids) == 0 || m.From != ident.Account(ident.AccountOf(from)) ||
		consensus.ProposerOf(ids, m.Height, m.Round) != m.From || m.Height > n.status.Load().Height+2 {
		n.stats.ignored.Add(1)
		return
	}
	pid, err := p2p.PeerID(from)
	if err != nil {
		return
	}
	key := string(from)
	n.fetchMu.Lock()
	ok := n.fetch.start(key, m.Height, m.Round, n.now())
	n.fetchMu.Unlock()
	if !ok {
		return
	}
	go func() {
		got := n.fetchVotes(ctx, pid, m.Height, m.Round)
		proposal := slices.ContainsFunc(got, func(x consensus.Message) bool {
			return x.Type == consensus.Proposal && x.Height == m.Height && x.Round == m.Round
		})
		n.fetchMu.Lock()
		n.fetch.done(key, proposal)
		n.fetchMu.Unlock()
		if proposal {
			n.stats.proposalsFetched.Add(1)
		}
	}()
}

// fetchEvery is how often one sender's proposal of one height and round may
// be fetched again while none brought it.
const fetchEvery = time.Second

// fetchPolicy is the proposal-fetch rate limit, by the sender's key: one
// fetch per sender at a time, one per height and round every fetchEvery, and
// none once one brought that proposal. It is not safe for concurrent use (the
// node guards it with fetchMu).
type fetchPolicy map[string]fetchState

// fetchState is the last proposal fetch from one authority.
type fetchState struct {
	height   uint64
	round    int32
	at       time.Time
	inFlight bool
	got      bool // it brought the proposal: its re-broadcasts need no fetch
}

// start reports whether the proposal of height h, round r may be fetched
// from sender key now, and if so records the fetch as in flight.
func (p fetchPolicy) start(key string, h uint64, r int32, now time.Time) bool {
	f := p[key]
	if f.inFlight || f.height == h && f.round == r && (f.got || now.Sub(f.at) < fetchEvery) {
		return false
	}
	p[key] = fetchState{height: h, round: r, at: now, inFlight: true}
	return true
}

// done records the end of sender key's fetch; got reports that it brought
// the proposal.
func (p fetchPolicy) done(key string, got bool) {
	f := p[key]
	f.inFlight, f.got = false, got
	p[key] = f
}
