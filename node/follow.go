package node

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"slices"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// Following the chain: who serves the head to whom.
//
// A home follows by asking a peer for the blocks after its height every
// second. If every home asked an authority, an authority would upload every
// block once per home it serves: 1,000 homes on 4 authorities is 250 copies
// of the chain each. So a node serves the head (a request for a height
// within followSpan of its own) to a bounded number of non-authority peers at
// a time, its followers: followersAuthority on an authority,
// followersHome on a home. Any other such request gets a busy answer that
// carries only the node's height. A home that is refused follows another home
// instead, and keeps the peer that served it blocks (its upstream) for as long
// as that peer keeps up; the homes thus form a tree under the authorities, and
// a node uploads at most its follower count of chain copies to homes that
// follow it, besides the catch-ups and last resorts below.
//
// The defaults keep a node within the 100 kbit/s budget at 1,000 homes'
// load (the figures are in DECISIONS.md): each level of homes lags the one
// above by a head/2 push and a certificate check (below).
//
// The bound does not cut off a home connected to an authority:
//   - requests from authorities, and catch-up requests (further than followSpan
//     behind), are always served;
//   - a home that has been served nothing by any peer for upstreamStale while
//     the chain is ahead asks an authority with wire.SyncLastResort set, which is
//     always served; it keeps the last resort while it looks for a home to
//     follow (followPolicy.seek), and leaves it only once a home served it
//     a block it did not have. A home that knows no other home (no mDNS
//     neighbour, DHT off, no home in its bootstrap list) thus follows an
//     authority as before.
//
// The price: an authority serves every home that cannot reach another home,
// and a home that claims the last resort without need is served too (the
// flag is its word). The bound limits what honest homes that see each other
// cost the authorities; it is not a defence against a greedy home.
//
// Homes never follow in a loop: every sync answer carries the server's
// depth, 0 on an authority and its upstream's plus one on a home (noDepth
// while it has none; lastResortDepth on the last resort, below), and a home takes or keeps as upstream only a peer whose
// depth is below maxFollowDepth. Homes that picked each other count up until
// they give each other up; a home with no upstream is nobody's.
//
// A follower holds its slot while it asks at least every followExpire.
const (
	followSpan         = 64
	followersAuthority = 2
	followersHome      = 2
	followExpire       = 10 * time.Second
	// upstreamStale is how long a home keeps an upstream that serves nothing
	// while a peer reported a higher height.
	upstreamStale = 5 * time.Second
	// probeEvery is how often a home following another home also asks an
	// authority, to learn the chain's height (a busy answer carries it; a
	// home's word for its height is not taken).
	probeEvery = 30 * time.Second

	maxFollowDepth = 16
	noDepth        = 255
)

// followers is a node's set of peers it serves the head to.
type followers struct {
	mu   sync.Mutex
	max  int
	last map[string]time.Time // peer key -> when it was last served
	busy int64                // busy answers given
}

func newFollowers(max int) *followers {
	return &followers{max: max, last: make(map[string]time.Time)}
}

// admit reports whether peer may be served the head now, and records it;
// a peer not in a slot gets one only if open.
func (f *followers) admit(peer ed25519.PublicKey, open bool, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	k := string(peer)
	if _, ok := f.last[k]; ok || open && len(f.last) < f.max {
		f.last[k] = now
		return true
	}
	f.busy++
	return false
}

// stats returns the current follower count and the busy answers given.
func (f *followers) stats(now time.Time) (count int, busy int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	return len(f.last), f.busy
}

func (f *followers) expire(now time.Time) {
	for k, t := range f.last {
		if now.Sub(t) > followExpire {
			delete(f.last, k)
		}
	}
}

// followDepth is this node's depth, as the status shows it: 0 on an
// authority of the next two heights, else its upstream's plus one (noDepth
// while it has none).
func (n *Node) followDepth() byte {
	if n.isAuthority && n.isNearAuthority(n.key.Public().(ed25519.PublicKey)) {
		return 0
	}
	return byte(n.depth.Load())
}

// toldDepth is the depth in the sync answers this node gives:
// followDepth, lastResortDepth on the last resort (followPolicy.toldDepth).
func (n *Node) toldDepth() byte {
	if n.onLastResort.Load() {
		return lastResortDepth
	}
	return n.followDepth()
}

// mayFollow reports whether a sync request from peer for the blocks from
// height h is served, head being this node's height (see the top of this file).
func (n *Node) mayFollow(peer ed25519.PublicKey, h uint64, flags byte, head uint64) bool {
	return n.followers.serves(peer, h, flags, head, n.isNearAuthority(peer), !n.onLastResort.Load(), n.now())
}

// serves is mayFollow's rule on a node with these followers: a catch-up, a
// last resort or an authority's request is served, else the peer must hold
// or get a follower slot, which a home on the last resort (open false)
// gives nobody new (followPolicy.open; the follow-tree simulation,
// followtree_test.go, runs it on simulated nodes).
func (f *followers) serves(peer ed25519.PublicKey, h uint64, flags byte, head uint64, authority, open bool, now time.Time) bool {
	if h+followSpan <= head || flags&wire.SyncLastResort != 0 || authority {
		return true
	}
	return f.admit(peer, open, now)
}

// keys returns the peers served now.
func (f *followers) keys(now time.Time) []ed25519.PublicKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	out := make([]ed25519.PublicKey, 0, len(f.last))
	for k := range f.last {
		out = append(out, ed25519.PublicKey(k))
	}
	return out
}

// A follower asks every followEvery; without more, each level of homes
// would add up to that much lag. So a node pushes each block it commits to
// the followers in its slots at once (head/2, the certified block as sync
// carries it), and a home takes the next block from its upstream as it
// comes (receiveBlock): it checks the certificate as for a synced block,
// forwards the block to its own followers at once (cut-through, before it
// is applied) and hands it to the loop, which validates and commits it. A
// level thus adds one message and a certificate check, not a push, a sync
// round trip and a commit. A pushed block that is not the next one wakes
// the loop to sync, as a head/1 push does (headIn); one from another peer
// than the upstream is ignored (pushActionFor).
//
// A follower that does not speak head/2 (the previous release; identify
// tells, p2p.Host.Speaks) is told the height alone (head/1, a uvarint) and
// syncs at once, as is every follower when there is no block to send (the
// head after a state sync). The notifier sends at most every headPause, the
// latest block then: a node that commits many blocks in a row (catching up)
// sends a few frames, not one per block, and its followers sync the gap.
// Homes served as a last resort or for a catch-up hold no slot and are not
// told: they poll.
const (
	headRate    = 20 // frames per second one peer may send
	headPause   = 100 * time.Millisecond
	pushedQueue = 4 // checked pushed blocks waiting for the loop (Node.blockIn)
)

// headPush is what the head notifier sends: a height and, when known, its
// certified block's head/2 frame.
type headPush struct {
	height uint64
	block  []byte // wire.EncodeCertified; nil: height only
}

// notifyHead records that the chain reached height h, with its certified
// block's frame (nil for none), and wakes the head notifier
// (runHeadNotifier). A height below one recorded already is dropped: a
// forwarded block (receiveBlock) may race the loop's commits.
func (n *Node) notifyHead(h uint64, block []byte) {
	p := &headPush{height: h, block: block}
	for {
		cur := n.headOut.Load()
		if cur != nil && (cur.height > h || cur.height == h && (cur.block != nil || block == nil)) {
			return
		}
		if n.headOut.CompareAndSwap(cur, p) {
			break
		}
	}
	select {
	case n.headWake <- struct{}{}:
	default:
	}
}

// runHeadNotifier sends the latest block, or height, to the node's
// followers whenever it changes.
func (n *Node) runHeadNotifier(ctx context.Context) error {
	var sent uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.headWake:
		}
		p := n.headOut.Load()
		if p == nil || p.height <= sent {
			continue
		}
		sent = p.height
		n.pushHead(p)
		select { // headPause; a commit meanwhile leaves a wake-up waiting
		case <-ctx.Done():
			return nil
		case <-time.After(headPause):
		}
	}
}

// pushHead sends p to every follower: head/2 to those that speak it when p
// holds a block, head/1 to the others.
func (n *Node) pushHead(p *headPush) {
	height := wire.EncodeHead(p.height)
	for _, k := range n.followers.keys(n.now()) {
		id, err := p2p.PeerID(k)
		if err != nil {
			continue
		}
		proto, frame := wire.HeadV1Proto, height
		if v, _ := n.host.Speaks(id, wire.HeadProto, wire.HeadV1Proto); v == wire.HeadProto && p.block != nil {
			proto, frame = wire.HeadProto, p.block
		}
		_ = n.host.Send(id, proto, frame) // best-effort: followers poll too
	}
}

// receiveHead takes a peer's new height (head/1): from this home's
// upstream, above its own, it wakes the loop to sync now.
func (n *Node) receiveHead(from ed25519.PublicKey, payload []byte) p2p.Verdict {
	h, err := wire.DecodeHead(payload)
	if err != nil {
		n.stats.rejected.Add(1)
		return p2p.Reject
	}
	up := n.upstream.Load()
	id, perr := p2p.PeerID(from)
	if up == nil || perr != nil || *up != id || h <= n.status.Load().Height {
		return p2p.Ignore
	}
	n.wakeSync()
	return p2p.Accept
}

// pushedBlock is a block pushed by peer from (head/2) whose certificate
// checked, for the loop.
type pushedBlock struct {
	from string
	c    wire.Certified
}

// receiveBlock takes a peer's new block (head/2), on the peer's stream
// goroutine: the next block from this home's upstream is checked against
// the authority set of its height (verifyCertified, as a synced block),
// forwarded to this node's followers and handed to the loop (blockIn),
// which validates and commits it; a later one wakes the loop to sync. A
// block whose certificate does not verify is rejected (it scores the peer
// down).
func (n *Node) receiveBlock(from ed25519.PublicKey, payload []byte) p2p.Verdict {
	c, err := wire.DecodeHeadBlock(payload)
	if err != nil {
		return n.undecodable(err)
	}
	id, perr := p2p.PeerID(from)
	up, also := "", ""
	if u := n.upstream.Load(); u != nil && perr == nil {
		up = *u
	}
	if a := n.alsoUpstream.Load(); a != nil {
		also = *a
	}
	switch pushActionFor(up, also, id, n.status.Load().Height, c.Block.Header.Height) {
	case pushIgnore:
		return p2p.Ignore
	case pushSync:
		n.wakeSync()
		return p2p.Accept
	}
	if err := n.verifyCertified(c); err != nil {
		n.stats.rejected.Add(1)
		n.log.Debug("pushed block's certificate", "peer", id, "height", c.Block.Header.Height, "err", err)
		return p2p.Reject
	}
	n.notifyHead(c.Block.Header.Height, payload)
	select {
	case n.blockIn <- pushedBlock{from: id, c: c}:
	default: // the loop is behind: it syncs
		n.wakeSync()
	}
	return p2p.Accept
}

// wakeSync makes the loop sync now, as a head push does (syncPacer.head).
func (n *Node) wakeSync() {
	select {
	case n.headIn <- struct{}{}:
	default: // a wake-up is already waiting
	}
}

// followPolicy is a home's choice of upstream (the top of this file), and an
// authority's bookkeeping of useful answers, as the loop's sync round
// (loop.sync) asks peers in syncPeers' order. It does no I/O: the loop asks
// the peers it names and reports each answer.
type followPolicy struct {
	authority bool      // this node is configured as an authority: it keeps no upstream
	upstream  string    // the peer a home follows; "" for none
	flags     byte      // wire.SyncLastResort while an authority serves us as the last resort
	depth     byte      // the upstream's depth (noDepth for none)
	got       time.Time // when the upstream last gave a useful answer
	lastProbe time.Time // when a home last asked an authority besides its upstream
	// lastUseful is when a sync answer last brought blocks or confirmed the
	// head.
	lastUseful time.Time
	// peerDepth is the depth each home peer gave in its last sync answer
	// (busy answers carry it too), for order; only connected peers are
	// kept.
	peerDepth map[string]byte
	// lastClimb is when a home last asked a shallower home for a slot
	// (climb), lastWide when it last asked one not known to be shallower;
	// refused is when each home peer last refused it.
	lastClimb, lastWide time.Time
	refused             map[string]time.Time
	// left is the upstream a home left by climbing, at leftAt: its pushes
	// are taken for followExpire more, while it holds the home's slot.
	left   string
	leftAt time.Time
	// cand is the home that served a home on the last resort (seek) at
	// candAt, with no block it lacked, and its depth then: it holds the
	// home's slot for followExpire, and its first push above the home's
	// height makes it the upstream (pushed).
	cand      string
	candAt    time.Time
	candDepth byte
}

// leftFor returns the upstream left by climbing whose pushes are still
// taken at now ("" for none).
func (f *followPolicy) leftFor(now time.Time) string {
	if now.Sub(f.leftAt) >= followExpire {
		return ""
	}
	return f.left
}

// alsoFrom returns the peer besides the upstream whose pushes a home takes
// at now: the upstream it left by climbing, or the home it asked on the
// last resort ("" for none; never both: the last resort clears left).
func (f *followPolicy) alsoFrom(now time.Time) string {
	if l := f.leftFor(now); l != "" {
		return l
	}
	if now.Sub(f.candAt) >= followExpire {
		return ""
	}
	return f.cand
}

func newFollowPolicy(authority bool, now time.Time) followPolicy {
	return followPolicy{authority: authority, depth: noDepth, lastUseful: now, peerDepth: map[string]byte{}}
}

// unknownDepth is where order puts a home peer that has not answered yet:
// behind those known to be shallow, before those known to be deep.
const unknownDepth = maxFollowDepth / 2

// order sorts the home peers a round asks after the upstream and the
// authorities (rest, already rotated) by the depth each last gave,
// shallowest first, keeping the rotation among equals. A home looking for
// an upstream thus takes the shallowest that has a free follower slot,
// and the tree fills level by level instead of growing as deep as the
// order of asks happens to make it (with 8 neighbours a home, a random
// order built 1,000 homes 15-16 levels deep, against 7 for a full binary
// tree under 4 authorities: followtree_test.go). It forgets the depths of
// peers not in rest (no longer connected), except the upstream's.
func (f *followPolicy) order(rest []syncPeer) []syncPeer {
	if f.peerDepth == nil {
		f.peerDepth = map[string]byte{}
	}
	keep := make(map[string]byte, len(rest)+1)
	if d, ok := f.peerDepth[f.upstream]; ok {
		keep[f.upstream] = d
	}
	for _, p := range rest {
		if d, ok := f.peerDepth[p.id]; ok {
			keep[p.id] = d
		}
	}
	f.peerDepth = keep
	for id := range f.refused {
		if _, ok := keep[id]; !ok && !slices.ContainsFunc(rest, func(p syncPeer) bool { return p.id == id }) {
			delete(f.refused, id)
		}
	}
	depth := func(p syncPeer) byte {
		if d, ok := keep[p.id]; ok {
			return d
		}
		return unknownDepth
	}
	slices.SortStableFunc(rest, func(a, b syncPeer) int { return cmp.Compare(depth(a), depth(b)) })
	return rest
}

// A tree built by first come, first served ends deeper than it need be
// (simulated, 1,000 homes with 24 neighbours each: 15 levels against 7 for a
// full binary tree under 4 authorities, followtree_test.go): a home takes
// the first slot it finds, and a slot that frees later, or that it did not
// find, is taken by nobody nearer. So a home that follows a home also
// climbs: every climbEvery, after a round's answer, it asks one home peer
// that last told a depth below its upstream's for the blocks after its
// height, or every climbRetry one that did not (its depth may have
// changed: the others move too); if
// that peer serves it (it had a free follower slot) and is shallower than
// the upstream, it becomes the upstream, and the home and the homes that
// follow it move up. A peer that refused, or was not shallower, is not
// asked again for climbRetry. Every move lowers the home's depth by at
// least one, so the moves end; the slot left behind expires after
// followExpire. The cost: at most a request and its answer a second, one
// per peer per climbRetry once no peer has room; a peer that served but
// was not taken holds a slot for the home, and pushes it blocks, until the
// slot expires (followExpire), which the rarer wide asks keep rare.
const (
	climbEvery = 5 * time.Second
	climbRetry = time.Minute
)

// climb returns the home of peers (syncPeers' order: the upstream, the
// authorities, then home peers shallowest known first) that a round asks
// at now, after its answer, for a slot nearer the authorities, and false
// for none (above); followers are the ids of the peers this home serves in
// its slots, which it never asks. A home on the last resort seeks instead.
func (f *followPolicy) climb(now time.Time, peers []syncPeer, followers []string) (syncPeer, bool) {
	if !f.authority && f.upstream != "" && f.flags != 0 {
		return f.seek(now, peers, followers)
	}
	if f.authority || f.upstream == "" || f.depth == 0 || f.depth >= maxFollowDepth || now.Sub(f.lastClimb) < climbEvery {
		return syncPeer{}, false
	}
	// First a peer known to be shallower, else, every climbRetry, any: the
	// depths known are those of the last answers, and the other homes move
	// too.
	for _, wide := range []bool{false, true} {
		if wide && now.Sub(f.lastWide) < climbRetry {
			break
		}
		for _, p := range peers {
			if p.authority || p.id == f.upstream || now.Sub(f.refused[p.id]) < climbRetry || slices.Contains(followers, p.id) {
				continue
			}
			d, ok := f.peerDepth[p.id]
			if !ok {
				d = unknownDepth
			}
			if wide || d < f.depth {
				f.lastClimb = now
				if wide {
					f.lastWide = now
				}
				return p, true
			}
		}
	}
	return syncPeer{}, false
}

// climbed takes the answer of the peer climb named: useful (it served
// blocks or confirmed the head), ok (it served: not busy, no error),
// brought (it served a block this home did not have) and its depth. The
// peer becomes the upstream if it served and is shallower than the
// upstream; else it is not asked again for climbRetry. On the last resort
// the answer is the seek's (sought). It reports whether the upstream
// changed.
func (f *followPolicy) climbed(now time.Time, p syncPeer, useful, ok, brought bool, depth byte) bool {
	if f.peerDepth != nil {
		f.peerDepth[p.id] = depth
	}
	if f.flags != 0 {
		return f.sought(now, p, ok, brought, depth)
	}
	if useful && depth < f.depth {
		old := f.upstream
		f.set(p.id, 0, depth)
		f.got, f.lastUseful = now, now
		f.left, f.leftAt = old, now
		return true
	}
	if f.refused == nil {
		f.refused = map[string]time.Time{}
	}
	f.refused[p.id] = now
	return false
}

// probe reports whether a round that starts with peers (syncPeers' order)
// at now asks peers[1], an authority, first: a home following another home
// does so every probeEvery, to learn the chain's height (a busy answer
// carries it).
func (f *followPolicy) probe(now time.Time, peers []syncPeer) bool {
	if len(peers) > 1 && peers[0].id == f.upstream && !peers[0].authority && now.Sub(f.lastProbe) >= probeEvery {
		f.lastProbe = now
		return peers[1].authority
	}
	return false
}

// A home on the last resort looks for a home to follow without giving the
// last resort up (make before break): giving it up first left the home and
// its followers without blocks while it asked, and a home it then found
// could be one of its own subtree, which only has blocks the home
// forwarded (a loop until the depths counted up to maxFollowDepth; 3 of 20
// simulated 200-home runs had a home 3 blocks behind, followtree_test.go).
// So after every round's answer it asks one home peer (seek), shallowest
// known first, not one it serves in its slots, not one refused (or asked)
// within seekRetry; the last resort's answer came first, so the round
// brought the blocks. The home becomes the upstream only once it gives
// this home a block it did not have, in the answer (sought) or in a push
// while it holds the slot (followExpire, pushed): every block a home's
// subtree has came from the home, so a home in its subtree never does. A
// home that knows no other home keeps the last resort.

// A home on the last resort polls: the authority pushes it nothing (it
// holds no slot), so it is up to a followEvery behind, and so would be a
// subtree under it. So it gives no new follower a slot (open); those it
// has keep theirs, and it tells its depth as lastResortDepth, not 1: its
// followers climb away to any home known shallower, and homes looking for
// an upstream ask it last. At the start, when every home but the
// authorities' followers is on the last resort, the tree thus grows from
// the authorities' slots, not under homes that poll (simulated, 200 homes,
// seeds 1-20: with slots open and depth 1 told on the last resort, seed 12
// had a home 3 blocks behind; node/DECISIONS.md).
// A home refused on the last resort is asked again after seekRetry, not
// climbRetry: a slot frees when a follower leaves it (followExpire).
const (
	lastResortDepth = unknownDepth
	seekRetry       = followExpire
)

// open reports whether this home gives new followers a slot: not while it
// is on the last resort (above).
func (f *followPolicy) open() bool { return f.flags == 0 }

// seek is climb for a home on the last resort (above): of the home peers
// not asked within seekRetry, the one asked longest ago (never first), the
// shallowest known among equals. So every peer is asked in turn, those last
// known too deep too: the depth known is that of a peer's last answer, and
// a peer not asked keeps it (simulated, 1,000 homes: a home asking the
// shallowest first asked the same 10 full homes over and over, never the
// 17 others, 13 of which had a free slot).
func (f *followPolicy) seek(now time.Time, peers []syncPeer, followers []string) (syncPeer, bool) {
	var best syncPeer
	found := false
	for _, p := range peers {
		if p.authority || p.id == f.upstream || now.Sub(f.refused[p.id]) < seekRetry || slices.Contains(followers, p.id) {
			continue
		}
		if !found || f.refused[p.id].Before(f.refused[best.id]) {
			best, found = p, true
		}
	}
	if found {
		f.lastClimb = now
	}
	return best, found
}

// sought takes the answer of the home seek named (climbed's arguments): it
// becomes the upstream if it brought a block; if it served none it is the
// candidate whose push may make it the upstream (pushed). Either way it is
// not asked again for seekRetry.
func (f *followPolicy) sought(now time.Time, p syncPeer, ok, brought bool, depth byte) bool {
	if f.refused == nil {
		f.refused = map[string]time.Time{}
	}
	f.refused[p.id] = now
	if !ok || depth >= maxFollowDepth {
		return false
	}
	if brought {
		f.set(p.id, 0, depth)
		f.got, f.lastUseful = now, now
		return true
	}
	f.cand, f.candAt, f.candDepth = p.id, now, depth
	return false
}

// flagsFor returns the flags a sync request to peer id carries.
func (f *followPolicy) flagsFor(id string) byte {
	if id == f.upstream {
		return f.flags
	}
	return 0
}

// answer takes p's answer to a request with flags at now: useful (it brought
// blocks, or confirmed the head), ok (it answered and was not busy) and its
// depth. It reports whether the round ends here (else the loop asks the next
// peer).
func (f *followPolicy) answer(now time.Time, p syncPeer, flags byte, useful, ok bool, depth byte) (stop bool) {
	if !p.authority && f.peerDepth != nil {
		f.peerDepth[p.id] = depth
	}
	if !f.authority && !p.authority && depth >= maxFollowDepth {
		// Not connected to the authorities (or in a loop of homes): its
		// blocks are welcome, but it is nobody's upstream.
		useful, ok = false, false
	}
	if useful {
		f.lastUseful = now
	}
	switch {
	case useful && f.authority:
		return true
	case useful:
		f.set(p.id, flags, depth)
		f.got = now
		return true
	case p.id != f.upstream:
		return false
	case ok && now.Sub(f.got) < upstreamStale:
		return true // it served recently: it is a step behind, not lost
	default:
		f.set("", 0, noDepth) // busy, gone, stuck or too deep
		return false
	}
}

// pushAction is what a home does with a block pushed to it (head/2).
type pushAction int

const (
	pushIgnore pushAction = iota // not from the upstream (or alsoFrom's peer), or not above our height
	pushApply                    // the next block: check its certificate, forward it, apply it
	pushSync                     // a later block: sync from the upstream, as for a head/1 push
)

// pushActionFor is the rule for a block of height pushed, sent by peer
// from to a node at height whose upstream is up ("" for none: an authority,
// or a home that follows nobody) and which also takes the pushes of also
// ("" for none; followPolicy.alsoFrom): the upstream it left by climbing (a
// block the home's new upstream forwarded just before it took the home in
// comes from the one it left), or the home a home on the last resort asked
// (seek). receiveBlock applies the rule to what the loop last published,
// before the block's certificate is checked; the loop again to its own
// (followPolicy.pushed).
func pushActionFor(up, also, from string, height, pushed uint64) pushAction {
	switch {
	case up == "" || from != up && (also == "" || from != also) || pushed <= height:
		return pushIgnore
	case pushed == height+1:
		return pushApply
	default:
		return pushSync
	}
}

// pushed is pushActionFor for the loop, with the policy's upstream and the
// peer whose pushes it also takes (alsoFrom); a block it applies counts as
// a useful answer of the upstream. A block above the home's height from
// the candidate of a seek makes the candidate the upstream (a block the
// home did not have: the candidate is not in its subtree); receiveBlock
// hands the loop the next block only, so that is the one.
func (f *followPolicy) pushed(now time.Time, from string, height, pushed uint64) pushAction {
	if f.authority {
		return pushIgnore
	}
	also := f.alsoFrom(now)
	a := pushActionFor(f.upstream, also, from, height, pushed)
	if a != pushIgnore && from == also && also == f.cand {
		f.set(f.cand, 0, f.candDepth)
		f.got, f.lastUseful = now, now
	}
	if a == pushApply {
		f.got, f.lastUseful = now, now
	}
	return a
}

// needLastResort reports, after a round in which no peer ended it, whether a
// home asks the authorities with wire.SyncLastResort: the chain is ahead
// (behind) and nobody has served it for upstreamStale, or at once when no
// home is among its peers (homes false), since no home could serve it
// after the wait either (the 30-home demo's homes know only the
// authorities: one that lost its last resort to a timeout at load 20 went
// 9 s without a block).
func (f *followPolicy) needLastResort(now time.Time, behind, homes bool) bool {
	return !f.authority && behind && (!homes || now.Sub(f.lastUseful) >= upstreamStale)
}

// lastResort records that authority id served us as the last resort.
func (f *followPolicy) lastResort(now time.Time, id string, depth byte) {
	f.set(id, wire.SyncLastResort, depth)
	f.got, f.lastProbe, f.lastUseful = now, now, now
}

func (f *followPolicy) set(id string, flags, depth byte) {
	f.upstream, f.flags, f.depth, f.left, f.cand = id, flags, depth, "", ""
}

// followDepth is this home's depth: its upstream's plus one (noDepth for
// none).
func (f *followPolicy) followDepth() byte {
	return byte(min(int(f.depth)+1, noDepth))
}

// toldDepth is the depth this home's sync answers carry: followDepth,
// lastResortDepth on the last resort.
func (f *followPolicy) toldDepth() byte {
	if f.flags != 0 {
		return lastResortDepth
	}
	return f.followDepth()
}
