package node

import (
	"context"
	"crypto/ed25519"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/wire"
)

// Gossip is best-effort: a vote lost on the way is re-sent only by its author's
// periodic Rebroadcast. A node whose round makes no progress therefore asks a
// peer for the messages it holds for that round (the votes protocol) and feeds
// every one whose signature checks out to its engine, as if gossiped.
//
// The layout and limits of votes/1 are in package wire.
const (
	askVotesAfter = 1500 * time.Millisecond // without progress in a round
	askVotesEvery = time.Second
	votesTimeout  = 3 * time.Second
)

// votesQuery is a peer's request, answered by the loop, which owns the engine.
type votesQuery struct {
	height uint64
	round  int32
	reply  chan []byte
}

// serveVotes answers a votes request through the loop.
func (n *Node) serveVotes(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
	h, r, err := wire.DecodeVotesRequest(req)
	if err != nil {
		return nil, err
	}
	q := votesQuery{height: h, round: r, reply: make(chan []byte, 1)}
	select {
	case n.votesIn <- q:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case b := <-q.reply:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answerVotes is the loop's half of serveVotes.
func (l *loop) answerVotes(q votesQuery) {
	var msgs []consensus.Message
	if l.engine != nil && l.engine.Height() == q.height {
		msgs = l.engine.Messages(q.round)
	}
	out := wire.EncodeMessages(msgs)
	if len(out) > wire.MaxVotesResponseBytes {
		out = wire.EncodeMessages(nil)
	}
	q.reply <- out
}

// maybeAskVotes asks one peer (in turn) for the current round's messages when
// the vote-ask policy says so (a round without progress for askVotesAfter).
// The answer is fetched off the loop and comes back through voteIn.
func (l *loop) maybeAskVotes(ctx context.Context, now time.Time) {
	if l.engine == nil {
		return
	}
	h := l.engine.Height()
	r, step := l.engine.Round()
	if !l.asker.due(now, h, r, step) {
		return
	}
	// Only authorities hold votes: no home subscribes to them.
	connected := l.n.host.Peers()
	var peers []string
	for _, id := range l.engineIDs {
		if pid, err := peerIDOf(ident.Account(id)); err == nil && ident.Account(id) != l.n.self && slices.Contains(connected, pid) {
			peers = append(peers, pid)
		}
	}
	if len(peers) == 0 {
		return
	}
	peer := peers[l.asker.ask(now, len(peers))]
	go func() { l.n.fetchVotes(ctx, peer, h, r) }()
}

// fetchVotes asks peer for the messages of height h, round r, and feeds those
// whose signatures check out to the loop; it returns those it fed.
func (n *Node) fetchVotes(ctx context.Context, peer string, h uint64, r int32) []consensus.Message {
	rctx, cancel := context.WithTimeout(ctx, votesTimeout)
	defer cancel()
	resp, err := n.host.Request(rctx, peer, wire.VotesProto, wire.EncodeVotesRequest(h, r), wire.MaxVotesResponseBytes)
	if err != nil {
		n.log.Debug("votes request", "peer", peer, "err", err)
		return nil
	}
	msgs, err := wire.DecodeMessages(resp)
	if err != nil {
		n.stats.rejected.Add(1)
		n.log.Warn("malformed votes response", "peer", peer, "err", err)
		return nil
	}
	vals := n.validatorsAt(h)
	for i, m := range msgs {
		pub, ok := vals[m.From]
		if !ok || m.Height != h || m.Verify(n.gen.ChainID, pub) != nil {
			n.stats.rejected.Add(1)
			n.log.Warn("bad message in votes response", "peer", peer, "from", m.From)
			return msgs[:i]
		}
		n.stats.votesFetched.Add(1)
		send(ctx, n.voteIn, m)
	}
	return msgs
}
