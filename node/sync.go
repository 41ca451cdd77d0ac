package node

import (
	"context"
	"crypto/ed25519"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// Block sync (sync/2, package wire): serving the blocks after a height with
// their certificates (serveSync), and the loop's half, which asks peers and
// applies what verifies.

// serveSync answers a peer's request for blocks from a height, with
// certificates, or says it is busy (follow.go).
func (n *Node) serveSync(ctx context.Context, from ed25519.PublicKey, req []byte) ([]byte, error) {
	h, flags, err := wire.DecodeSyncRequest(req)
	if err != nil {
		return nil, err
	}
	n.mu.RLock()
	head := n.chain.Status().Height
	n.mu.RUnlock()
	if !n.mayFollow(from, h, flags, head) {
		return wire.EncodeSyncResponse(head, true, n.toldDepth(), nil), nil
	}
	n.mu.RLock()
	blocks, certs, err := n.chain.Blocks(h, wire.MaxSyncBlocks)
	n.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	items := make([][]byte, 0, len(blocks))
	size := 0
	for i, b := range blocks {
		raw := b.Encode()
		size += len(raw) + len(certs[i])
		if size > wire.MaxBlockBytes && len(items) > 0 {
			break
		}
		items = append(items, wire.EncodeCertified(raw, certs[i]))
	}
	return wire.EncodeSyncResponse(head, false, n.toldDepth(), items), nil
}

// applyOne applies a synced block: its certificate checked against the
// authority set of its height (certify.go), the block validated against the
// chain and committed, and the engine moved on to the next height.
func (l *loop) applyOne(c wire.Certified) error {
	if err := l.n.verifyCertified(c); err != nil {
		return err
	}
	return l.applyChecked(c)
}

// applyChecked is applyOne for a block whose certificate checked.
func (l *loop) applyChecked(c wire.Certified) error {
	l.n.mu.RLock()
	err := l.n.chain.Validate(c.Block, l.n.now().UnixMilli())
	l.n.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := l.commit(c.Block, c.Raw, c.Cert); err != nil {
		return err
	}
	if l.engine != nil {
		// A block decided without us: continue consensus at the next height.
		return l.startEngine()
	}
	return l.reconfigure()
}

// pushed applies a block its upstream pushed (head/2), whose certificate
// receiveBlock checked and which it forwarded: when the follow policy
// takes it as the next block from the upstream (followPolicy.pushed); a
// later block syncs, as a head/1 push does.
func (l *loop) pushed(ctx context.Context, b pushedBlock) {
	defer l.publishFollow() // a seek's candidate may have become the upstream
	switch l.follow.pushed(l.n.now(), b.from, l.n.chain.Status().Height, b.c.Block.Header.Height) {
	case pushApply:
		if err := l.applyChecked(b.c); err != nil {
			l.n.log.Warn("pushed block not applied", "height", b.c.Block.Header.Height, "peer", b.from, "err", err)
			return
		}
		l.n.stats.pushedBlocks.Add(1)
	case pushSync:
		if l.pacer.head(l.n.now()) {
			l.sync(ctx)
		}
	}
}

// sync asks peers for blocks after our height and applies those that verify.
// An authority asks the authorities first, starting with a different one each
// time (they hold the chain's head), then the other peers. A home asks its
// upstream first and other peers only when it has none or it fell behind
// (follow.go); it keeps the first peer that serves it as its upstream. Either
// stops at the first useful answer (askSync). The follow policy decides
// whom to ask and whom to keep; a full answer makes the pacer sync again
// soon, not a follow interval later.
func (l *loop) sync(ctx context.Context) {
	defer l.publishFollow()
	if l.maybeStateSync(ctx) {
		return
	}
	now, f := l.n.now(), &l.follow
	peers := l.syncPeers(l.n.chain.Status().Height + 1)
	if f.probe(now, peers) {
		// Ask an authority too: its height (busy or not) tells whether the
		// upstream keeps up.
		l.askSync(ctx, peers[1], 0)
	}
	for _, p := range peers {
		flags := f.flagsFor(p.id)
		useful, ok, depth := l.askSync(ctx, p, flags)
		if f.answer(now, p, flags, useful, ok, depth) {
			l.climb(ctx, now, peers, l.n.followerIDs(now))
			return
		}
	}
	if !f.needLastResort(now, l.n.bestSeen.Load() > l.n.chain.Status().Height, hasHome(peers)) {
		return
	}
	// Nobody else has served us for a while and the chain is ahead: an
	// authority must, until the next probe looks for a home again.
	for _, p := range peers {
		if p.authority {
			if useful, _, depth := l.askSync(ctx, p, wire.SyncLastResort); useful {
				f.lastResort(now, p.id, depth)
				return
			}
		}
	}
}

// climb asks the home the follow policy names for a follower slot nearer
// the authorities (followPolicy.climb), or, on the last resort, for any
// slot (followPolicy.seek), and tells the policy the answer: whether it
// served and whether it brought blocks this home did not have.
func (l *loop) climb(ctx context.Context, now time.Time, peers []syncPeer, followers []string) {
	if p, ok := l.follow.climb(now, peers, followers); ok {
		h := l.n.chain.Status().Height
		useful, served, depth := l.askSync(ctx, p, 0)
		l.follow.climbed(now, p, useful, served, l.n.chain.Status().Height > h, depth)
	}
}

// followerIDs returns the peer ids of the node's followers now.
func (n *Node) followerIDs(now time.Time) []string {
	var ids []string
	for _, k := range n.followers.keys(now) {
		if id, err := p2p.PeerID(k); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// publishFollow shows the follow policy's upstream and depth to the status
// and to receiveHead.
func (l *loop) publishFollow() {
	l.n.depth.Store(uint32(l.follow.followDepth()))
	l.n.onLastResort.Store(!l.follow.open())
	cur := ""
	if up := l.n.upstream.Load(); up != nil {
		cur = *up
	}
	if id := l.follow.upstream; id != cur {
		l.n.upstream.Store(&id)
	}
	also := l.follow.alsoFrom(l.n.now())
	l.n.alsoUpstream.Store(&also)
}

// askSync asks p for the blocks after our height and applies those that
// verify. useful reports an answer that was not busy and brought blocks, or
// left us at the highest height an authority told of; ok reports that p
// answered and was not busy; depth is p's (follow.go).
func (l *loop) askSync(ctx context.Context, p syncPeer, flags byte) (useful, ok bool, depth byte) {
	from := l.n.chain.Status().Height + 1
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	resp, err := l.n.host.Request(rctx, p.id, wire.SyncProto, wire.EncodeSyncRequest(from, flags), wire.MaxSyncResponseBytes)
	cancel()
	if err != nil {
		return false, false, noDepth
	}
	a, err := wire.DecodeSyncResponse(resp)
	if err != nil {
		l.n.undecodable(err)
		l.n.log.Debug("bad sync response", "peer", p.id, "err", err)
		return false, false, noDepth
	}
	if p.authority {
		if pub, err := p2p.PublicKey(p.id); err == nil {
			l.n.seen(ident.AccountOf(pub), a.Head) // a home's word for its height is not taken
		}
	}
	if a.Busy {
		return false, false, a.Depth
	}
	if p.authority && l.stateSyncDue(a.Head) {
		// Far behind: join from a snapshot at the next turn rather than
		// replay these blocks (snapshots.go).
		l.pacer.full()
		return false, true, a.Depth
	}
	applied := 0
	for _, c := range a.Blocks {
		if c.Block.Header.Height != l.n.chain.Status().Height+1 {
			break
		}
		if err := l.applyOne(c); err != nil {
			l.n.log.Warn("synced block not applied", "height", c.Block.Header.Height, "peer", p.id, "err", err)
			break
		}
		applied++
	}
	// An answer is full when it holds wire.MaxSyncBlocks blocks or the server
	// stopped filling it at wire.MaxBlockBytes (no block is larger than a
	// gossip payload, so a cut answer is within one of the limit).
	if applied > 0 && applied == len(a.Blocks) && (applied == wire.MaxSyncBlocks || len(resp) > wire.MaxBlockBytes-wire.MaxGossipBytes) {
		l.pacer.full()
	}
	return applied > 0 || l.n.chain.Status().Height >= l.n.bestSeen.Load(), true, a.Depth
}

type syncPeer struct {
	id        string
	authority bool
}

// hasHome reports whether a home is among peers.
func hasHome(peers []syncPeer) bool {
	return slices.ContainsFunc(peers, func(p syncPeer) bool { return !p.authority })
}

// syncPeers lists the connected peers: a home's upstream first, then the
// authorities deciding height h (rotated by one on every call), then the
// others (rotated too, so that homes refused by the authorities spread over
// the other homes, and then sorted shallowest first: followPolicy.order).
func (l *loop) syncPeers(h uint64) []syncPeer {
	auth := make(map[string]bool)
	for _, a := range l.n.authoritiesAt(h) {
		if id, err := peerIDOf(a); err == nil {
			auth[id] = true
		}
	}
	var up, first, rest []syncPeer
	for _, id := range l.n.host.Peers() { // sorted
		switch {
		case id == l.follow.upstream:
			up = append(up, syncPeer{id, auth[id]})
		case auth[id]:
			first = append(first, syncPeer{id, true})
		default:
			rest = append(rest, syncPeer{id, false})
		}
	}
	l.syncTurn++
	return slices.Concat(up, rotate(first, l.syncTurn), l.follow.order(rotate(rest, l.syncTurn)))
}

func rotate[T any](s []T, k int) []T {
	if len(s) == 0 {
		return s
	}
	k %= len(s)
	return append(s[k:], s[:k]...)
}
