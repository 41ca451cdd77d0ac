package node

import (
	"cmp"
	"container/heap"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/wire"
)

// The follow tree at scale (issue 19): a discrete-event simulation of
// homes following the chain through each other, on the node's own follow
// rules: followPolicy (whom to ask, whom to keep, the last resort, probes),
// followers (the follower slots and their expiry, served by
// followers.serves, mayFollow's rule), syncPacer (when a home syncs) and
// the head notifier's pacing (headPause). What is simulated is the rest:
// each node's loop is one state machine that runs a sync round as
// loop.sync does (the upstream first, then the authorities rotated, then
// the other peers rotated; a probe of an authority every probeEvery; the
// last resort), every message takes Latency one way, each synced block
// takes Apply to verify and commit, and the authorities commit a block
// every BlockEvery. Bytes are the payloads of sync/2 and head/1 plus
// streamOverhead for each stream's framing and protocol negotiation. The
// clock is simulated, so 1,000 homes over minutes take seconds, and a seed
// gives the same run.
//
// Why not 1,000 real hosts: a node process (host, badger, loop, gossip)
// holds about 37 MB and uses about 1 % of a core in 5-s slots (README
// figures), so 1,000 of them are 37 GB (this machine has 24) and 10 cores'
// worth (it has 2, shared): what would be measured is the machine's load.
// p2p/p2psim runs real hosts, but gossip only, up to a few hundred. The
// simulation keeps what decides the tree's shape and its lag: the policies,
// the order of asks and the cost of a hop.
//
// GRIDMESH_FOLLOWTREE (a JSON followTreeConfig, e.g. '{"Homes":1000}')
// runs it at that size and prints the figures; without it a 200-home run
// checks the same properties in a few seconds.

// followTreeConfig is one simulated network.
type followTreeConfig struct {
	Homes, Authorities int
	Peers              int           // other homes each home is connected to (its DHT neighbours)
	Latency            time.Duration // one way, per message
	Apply              time.Duration // verify and commit one synced block
	BlockEvery         time.Duration
	BlockBytes         int // a certified block in a sync answer
	Warmup, Measure    time.Duration
	Seed               uint64
	// Verify is the part of Apply that checks a pushed block's
	// certificate, after which it is forwarded (cut-through, follow.go).
	Verify time.Duration
	// Random asks home peers in rotation only, as before
	// followPolicy.order (for comparison).
	Random bool
	// HeightOnly pushes heights alone (head/1, as before head/2): a
	// follower syncs the block from its upstream after each push (for
	// comparison).
	HeightOnly bool
	// NoClimb leaves homes where they first found a slot, as before
	// followPolicy.climb (for comparison).
	NoClimb bool
	// Followers and AuthFollowers override followersHome and
	// followersAuthority (for comparison).
	Followers, AuthFollowers int
}

func defaultFollowTree() followTreeConfig {
	return followTreeConfig{
		Homes: 200, Authorities: 4, Peers: 8,
		// 20-80 ms is the microgrid delay; a synced block of a
		// 1,000-home network (2-3 txs) takes a few ms to verify and commit.
		Latency: 40 * time.Millisecond, Apply: 5 * time.Millisecond, Verify: time.Millisecond,
		// 1,000 homes' load: 102 blocks a minute, 19 kbit/s a chain copy
		// (README figures: `gridmesh bench chain --rate 4.4`).
		BlockEvery: 590 * time.Millisecond, BlockBytes: 1400,
		// Seed 12 is one of seeds 1-20 where a home was 3 blocks behind
		// with the last resort's earlier rules (its retry, and slots open
		// at depth 1 on the last resort: TestFollowTree's last check).
		Warmup: 90 * time.Second, Measure: 120 * time.Second, Seed: 12,
	}
}

const streamOverhead = 64 // bytes of framing and protocol negotiation per stream

// followTreeResult is what a run measured.
type followTreeResult struct {
	Depths        map[int]int // homes by follow depth at the end
	MaxDepth      int
	LastResort    int           // homes served by an authority as the last resort at the end
	MaxLagBlocks  uint64        // the most blocks any home was behind, at any block's commit on the authorities
	DeepLagBlocks uint64        // the same for the homes at MaxDepth
	DeepP99       time.Duration // commit latency behind the authorities of the homes at MaxDepth
	DeepMax       time.Duration
	AuthKbps      float64 // mean upload of an authority
	AuthMaxKbps   float64
	HomeMaxKbps   float64
	HomeMeanKbps  float64
}

// ftNode is one simulated node.
type ftNode struct {
	i        int
	auth     bool
	id       string
	key      ed25519.PublicKey
	height   uint64
	peers    []int
	fol      *followers
	follow   followPolicy
	pacer    syncPacer
	syncTurn int
	bestSeen uint64
	upPub    string // the upstream as published after a round (receiveHead reads it)
	alsoPub  string // and the peer whose pushes it also takes (followPolicy.alsoFrom)
	depthPub byte
	openPub  bool // it gives new followers a slot (followPolicy.open)
	busy     bool // in a sync round: the loop is blocked
	wake     bool // a head push waits (headIn)
	paused   bool // the head notifier waits headPause
	sent     uint64
	out      int64      // bytes sent during the measurement
	fwd      uint64     // the highest block verified and forwarded before it was applied (cut-through)
	inbox    []ftPushed // pushed blocks waiting for the loop (Node.blockIn)
}

// treeDepth is the node's depth in the tree for the figures: 1 on the
// last resort (an authority serves it), which it does not tell
// (followPolicy.toldDepth).
func (nd *ftNode) treeDepth() int {
	if nd.follow.flags != 0 {
		return int(nd.follow.followDepth())
	}
	return int(nd.depthPub)
}

// ftPushed is a pushedBlock.
type ftPushed struct {
	from   *ftNode
	height uint64
}

type ftEvent struct {
	at  time.Duration
	seq int
	fn  func()
}

type ftQueue []ftEvent

func (q ftQueue) Len() int { return len(q) }
func (q ftQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q ftQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *ftQueue) Push(x any)   { *q = append(*q, x.(ftEvent)) }
func (q *ftQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type followTree struct {
	cfg       followTreeConfig
	nodes     []*ftNode
	byID      map[string]*ftNode
	q         ftQueue
	seq       int
	now       time.Duration
	epoch     time.Time
	madeAt    []time.Duration // when the authorities committed each height
	measuring bool
	res       followTreeResult
	deepLat   map[int][]time.Duration // commit latencies by the home's depth
	homeLag   []uint64
}

func (s *followTree) at(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.q, ftEvent{at: s.now + d, seq: s.seq, fn: fn})
}

func (s *followTree) wall() time.Time { return s.epoch.Add(s.now) }

func newFollowTree(cfg followTreeConfig) *followTree {
	s := &followTree{cfg: cfg, byID: map[string]*ftNode{}, epoch: time.Unix(1_800_000_000, 0),
		madeAt: []time.Duration{0}, deepLat: map[int][]time.Duration{}}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x66746565))
	n := cfg.Authorities + cfg.Homes
	for i := range n {
		nd := &ftNode{i: i, auth: i < cfg.Authorities, id: fmt.Sprintf("n%05d", i), key: make(ed25519.PublicKey, ed25519.PublicKeySize)}
		copy(nd.key, nd.id)
		max := cmp.Or(cfg.Followers, followersHome)
		if nd.auth {
			max = cmp.Or(cfg.AuthFollowers, followersAuthority)
		}
		nd.fol = newFollowers(max)
		nd.follow = newFollowPolicy(nd.auth, s.epoch)
		nd.pacer = syncPacer{every: followEvery}
		nd.syncTurn = rng.IntN(1 << 16)
		nd.depthPub, nd.openPub = noDepth, true
		if nd.auth {
			nd.depthPub = 0
		}
		s.nodes = append(s.nodes, nd)
		s.byID[nd.id] = nd
	}
	// Every home knows the authorities (its bootstrap) and Peers random
	// homes; connections go both ways.
	linked := map[[2]int]bool{}
	link := func(a, b int) {
		if a == b || linked[[2]int{a, b}] {
			return
		}
		linked[[2]int{a, b}], linked[[2]int{b, a}] = true, true
		s.nodes[a].peers = append(s.nodes[a].peers, b)
		s.nodes[b].peers = append(s.nodes[b].peers, a)
	}
	for i := cfg.Authorities; i < n; i++ {
		for a := range cfg.Authorities {
			link(i, a)
		}
		for range cfg.Peers / 2 {
			link(i, cfg.Authorities+rng.IntN(cfg.Homes))
		}
	}
	for _, nd := range s.nodes {
		slices.Sort(nd.peers) // host.Peers is sorted; ids sort as indexes
		if !nd.auth {
			s.at(time.Duration(rng.Int64N(int64(time.Second))), func() { s.tick(nd) })
		}
	}
	s.homeLag = make([]uint64, n)
	s.at(cfg.BlockEvery, s.makeBlock)
	return s
}

// run simulates Warmup and then Measure.
func (s *followTree) run() followTreeResult {
	end := s.cfg.Warmup + s.cfg.Measure
	s.at(s.cfg.Warmup, func() { s.measuring = true })
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(ftEvent)
		if e.at > end {
			break
		}
		s.now = e.at
		e.fn()
	}
	return s.result()
}

// makeBlock commits the next block on every authority.
func (s *followTree) makeBlock() {
	s.madeAt = append(s.madeAt, s.now)
	h := uint64(len(s.madeAt) - 1)
	for _, nd := range s.nodes {
		if nd.auth {
			nd.height = h
			s.committed(nd)
		} else if s.measuring && h-nd.height > s.homeLag[nd.i] {
			s.homeLag[nd.i] = h - nd.height
		}
	}
	s.at(s.cfg.BlockEvery, s.makeBlock)
}

// tick is the loop's tickEvery ticker: the pacer may start a round.
func (s *followTree) tick(nd *ftNode) {
	if !nd.busy && nd.pacer.tick(s.wall(), false) {
		s.round(nd)
	}
	s.at(tickEvery, func() { s.tick(nd) })
}

// send counts a message's bytes on from and delivers it after Latency.
func (s *followTree) send(from *ftNode, bytes int, fn func()) {
	if s.measuring {
		from.out += int64(bytes + streamOverhead)
	}
	s.at(s.cfg.Latency, fn)
}

// committed runs a node's head notifier (runHeadNotifier): it tells its
// followers the new height at once, then at most every headPause.
func (s *followTree) committed(nd *ftNode) {
	h := max(nd.height, nd.fwd)
	if nd.paused || h <= nd.sent {
		return
	}
	nd.sent, nd.paused = h, true
	for _, k := range nd.fol.keys(s.wall()) {
		to := s.byID[string(k[:6])]
		size := len(wire.EncodeHead(h))
		if !s.cfg.HeightOnly {
			size = len(wire.EncodeCertified(make([]byte, s.cfg.BlockBytes-300), make([]byte, 300)))
		}
		s.send(nd, size, func() { s.receiveHead(to, nd, h) })
	}
	s.at(headPause, func() { nd.paused = false; s.committed(nd) })
}

// receiveHead is node.receiveHead (head/1) and node.receiveBlock
// (head/2): the next block from the upstream is verified on the stream's
// goroutine, beside the loop, forwarded at once and queued for the loop.
func (s *followTree) receiveHead(nd, from *ftNode, h uint64) {
	a := pushSync
	if !s.cfg.HeightOnly {
		a = pushActionFor(nd.upPub, nd.alsoPub, from.id, nd.height, h)
	} else if nd.upPub != from.id || h <= nd.height {
		a = pushIgnore
	}
	switch a {
	case pushApply:
		s.at(s.cfg.Verify, func() {
			nd.fwd = max(nd.fwd, h)
			s.committed(nd)
			if len(nd.inbox) >= pushedQueue {
				s.wakeSync(nd) // the loop is behind: it syncs
				return
			}
			nd.inbox = append(nd.inbox, ftPushed{from, h})
			if !nd.busy {
				s.endRound(nd)
			}
		})
	case pushSync:
		s.wakeSync(nd)
	}
}

// wakeSync is node.wakeSync and the loop's headIn case.
func (s *followTree) wakeSync(nd *ftNode) {
	if nd.busy {
		nd.wake = true
		return
	}
	if nd.pacer.head(s.wall()) {
		s.round(nd)
	}
}

// pushed is loop.pushed: a block whose certificate checked is applied (the
// rest of Apply) if the policy takes it; a later one syncs.
func (s *followTree) pushed(nd *ftNode, p ftPushed) {
	switch nd.follow.pushed(s.wall(), p.from.id, nd.height, p.height) {
	case pushApply:
		nd.busy = true
		s.at(s.cfg.Apply-s.cfg.Verify, func() {
			nd.height = p.height
			if s.measuring {
				d := nd.treeDepth()
				s.deepLat[d] = append(s.deepLat[d], s.now-s.madeAt[p.height])
			}
			s.committed(nd)
			s.endRound(nd)
		})
	case pushSync:
		nd.wake = true
		s.endRound(nd)
	default:
		s.endRound(nd)
	}
}

// syncPeers is loop.syncPeers.
func (s *followTree) syncPeers(nd *ftNode) []syncPeer {
	var up, first, rest []syncPeer
	for _, j := range nd.peers {
		p := s.nodes[j]
		switch {
		case p.id == nd.follow.upstream:
			up = append(up, syncPeer{p.id, p.auth})
		case p.auth:
			first = append(first, syncPeer{p.id, true})
		default:
			rest = append(rest, syncPeer{p.id, false})
		}
	}
	nd.syncTurn++
	rest = rotate(rest, nd.syncTurn)
	if !s.cfg.Random {
		rest = nd.follow.order(rest)
	}
	return slices.Concat(up, rotate(first, nd.syncTurn), rest)
}

// round is loop.sync as a chain of events: ask, wait, go on.
func (s *followTree) round(nd *ftNode) {
	nd.busy = true
	now, f := s.wall(), &nd.follow
	peers := s.syncPeers(nd)
	if f.probe(now, peers) {
		s.ask(nd, peers[1], 0, func(bool, bool, byte) { s.askEach(nd, now, peers, 0) })
		return
	}
	s.askEach(nd, now, peers, 0)
}

func (s *followTree) askEach(nd *ftNode, now time.Time, peers []syncPeer, k int) {
	f := &nd.follow
	if k == len(peers) {
		s.lastResort(nd, now, peers, 0)
		return
	}
	p := peers[k]
	flags := f.flagsFor(p.id)
	s.ask(nd, p, flags, func(useful, ok bool, depth byte) {
		if f.answer(now, p, flags, useful, ok, depth) {
			s.climb(nd, now, peers)
			return
		}
		s.askEach(nd, now, peers, k+1)
	})
}

// followerIDs is Node.followerIDs.
func (s *followTree) followerIDs(nd *ftNode) []string {
	var ids []string
	for _, k := range nd.fol.keys(s.wall()) {
		ids = append(ids, string(k[:6]))
	}
	return ids
}

// climb is loop.climb (NoClimb leaves the last resort's seek).
func (s *followTree) climb(nd *ftNode, now time.Time, peers []syncPeer) {
	followers := s.followerIDs(nd)
	p, ok := nd.follow.climb(now, peers, followers)
	if !ok || s.cfg.NoClimb && nd.follow.flags == 0 {
		s.endRound(nd)
		return
	}
	h := nd.height
	s.ask(nd, p, 0, func(useful, served bool, depth byte) {
		nd.follow.climbed(now, p, useful, served, nd.height > h, depth)
		s.endRound(nd)
	})
}

func (s *followTree) lastResort(nd *ftNode, now time.Time, peers []syncPeer, k int) {
	f := &nd.follow
	if k == 0 && !f.needLastResort(now, nd.bestSeen > nd.height, hasHome(peers)) {
		s.endRound(nd)
		return
	}
	for ; k < len(peers) && !peers[k].authority; k++ {
	}
	if k == len(peers) {
		s.endRound(nd)
		return
	}
	p := peers[k]
	s.ask(nd, p, wire.SyncLastResort, func(useful, _ bool, depth byte) {
		if useful {
			f.lastResort(now, p.id, depth)
			s.endRound(nd)
			return
		}
		s.lastResort(nd, now, peers, k+1)
	})
}

// endRound is publishFollow and the loop taking its next input.
func (s *followTree) endRound(nd *ftNode) {
	nd.busy = false
	nd.depthPub = nd.follow.toldDepth()
	nd.openPub = nd.follow.open()
	nd.upPub = nd.follow.upstream
	nd.alsoPub = nd.follow.alsoFrom(s.wall())
	if len(nd.inbox) > 0 {
		p := nd.inbox[0]
		nd.inbox = nd.inbox[1:]
		s.pushed(nd, p)
		return
	}
	if nd.wake {
		nd.wake = false
		if nd.pacer.head(s.wall()) {
			s.round(nd)
		}
	}
}

// ask is askSync and serveSync: the request travels, the server answers
// busy or with blocks, the answer travels, the blocks are applied.
func (s *followTree) ask(nd *ftNode, p syncPeer, flags byte, done func(useful, ok bool, depth byte)) {
	from := nd.height + 1
	srv := s.byID[p.id]
	s.send(nd, len(wire.EncodeSyncRequest(from, flags)), func() {
		head, depth := srv.height, srv.depthPub
		if !srv.fol.serves(nd.key, from, flags, head, nd.auth, srv.openPub, s.wall()) {
			s.send(srv, len(wire.EncodeSyncResponse(head, true, depth, nil)), func() {
				if p.authority {
					nd.bestSeen = max(nd.bestSeen, head)
				}
				done(false, false, depth)
			})
			return
		}
		var n uint64
		if head >= from {
			n = min(head-from+1, wire.MaxSyncBlocks)
		}
		s.send(srv, 11+int(n)*s.cfg.BlockBytes, func() {
			if p.authority {
				nd.bestSeen = max(nd.bestSeen, head)
			}
			s.apply(nd, from, n, func() {
				if n == wire.MaxSyncBlocks {
					nd.pacer.full()
				}
				done(n > 0 || nd.height >= nd.bestSeen, true, depth)
			})
		})
	})
}

// apply commits n blocks from height from, Apply each, telling followers.
func (s *followTree) apply(nd *ftNode, from, n uint64, done func()) {
	if n == 0 || nd.height+1 != from {
		done()
		return
	}
	s.at(s.cfg.Apply, func() {
		nd.height = from
		if s.measuring {
			d := nd.treeDepth()
			s.deepLat[d] = append(s.deepLat[d], s.now-s.madeAt[from])
		}
		s.committed(nd)
		s.apply(nd, from+1, n-1, done)
	})
}

func (s *followTree) result() followTreeResult {
	r := followTreeResult{Depths: map[int]int{}}
	secs := s.cfg.Measure.Seconds()
	var homeSum float64
	for _, nd := range s.nodes {
		kbps := float64(nd.out) * 8 / 1000 / secs
		if nd.auth {
			r.AuthKbps += kbps / float64(s.cfg.Authorities)
			r.AuthMaxKbps = max(r.AuthMaxKbps, kbps)
			continue
		}
		homeSum += kbps
		r.HomeMaxKbps = max(r.HomeMaxKbps, kbps)
		d := nd.treeDepth()
		r.Depths[d]++
		if d != noDepth {
			r.MaxDepth = max(r.MaxDepth, d)
		}
		if nd.follow.flags&wire.SyncLastResort != 0 {
			r.LastResort++
		}
		r.MaxLagBlocks = max(r.MaxLagBlocks, s.homeLag[nd.i])
	}
	r.HomeMeanKbps = homeSum / float64(s.cfg.Homes)
	for _, nd := range s.nodes {
		if !nd.auth && nd.treeDepth() == r.MaxDepth {
			r.DeepLagBlocks = max(r.DeepLagBlocks, s.homeLag[nd.i])
		}
	}
	lat := s.deepLat[r.MaxDepth]
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		r.DeepP99, r.DeepMax = lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return r
}

func TestFollowTree(t *testing.T) {
	cfg := defaultFollowTree()
	if env := os.Getenv("GRIDMESH_FOLLOWTREE"); env != "" {
		if err := json.Unmarshal([]byte(env), &cfg); err != nil {
			t.Fatalf("GRIDMESH_FOLLOWTREE=%s: %v", env, err)
		}
	} else if testing.Short() {
		cfg.Warmup, cfg.Measure = 60*time.Second, 30*time.Second
	}
	start := time.Now()
	r := newFollowTree(cfg).run()
	t.Logf("%d homes, %d authorities, %d peers each, latency %v, apply %v, a block every %v (%d B); %v simulated in %v",
		cfg.Homes, cfg.Authorities, cfg.Peers, cfg.Latency, cfg.Apply, cfg.BlockEvery, cfg.BlockBytes,
		cfg.Warmup+cfg.Measure, time.Since(start).Round(time.Millisecond))
	depths := make([]string, 0, len(r.Depths))
	for _, d := range slices.Sorted(maps.Keys(r.Depths)) {
		depths = append(depths, strconv.Itoa(d)+":"+strconv.Itoa(r.Depths[d]))
	}
	t.Logf("depths (depth:homes) %v; max depth %d; %d on the last resort", depths, r.MaxDepth, r.LastResort)
	t.Logf("lag: any home at most %d blocks behind; the deepest homes %d blocks, commit latency p99 %v, max %v",
		r.MaxLagBlocks, r.DeepLagBlocks, r.DeepP99, r.DeepMax)
	t.Logf("upload: authority %.1f kbit/s mean, %.1f max; home %.1f mean, %.1f max", r.AuthKbps, r.AuthMaxKbps, r.HomeMeanKbps, r.HomeMaxKbps)
	if r.Depths[noDepth] > 0 {
		t.Errorf("%d homes follow nobody at the end; want every home in the tree", r.Depths[noDepth])
	}
	if r.MaxDepth < 2 {
		t.Errorf("max depth %d; want homes to follow homes (a tree, not a star)", r.MaxDepth)
	}
	// With head/2 a level adds a push and the certificate's check (the
	// block is forwarded before it is applied), and the deepest home's own
	// apply may wait for its loop to end a round (its follow poll and a
	// climb's ask, four messages); with head/1 alone a level adds a push, a
	// sync round trip (three messages), the apply and the pacer's
	// headSyncGap. A level that waited for its follow poll instead (a push
	// lost, a follower not told) would add up to followEvery.
	hop, bound := cfg.Latency+cfg.Verify, cfg.Apply+4*cfg.Latency
	if cfg.HeightOnly {
		hop, bound = 3*cfg.Latency+cfg.Apply+headSyncGap, 0
	}
	if bound += time.Duration(r.MaxDepth) * hop; r.DeepP99 > bound {
		t.Errorf("the deepest homes (depth %d) commit p99 %v behind the authorities; want at most %v (%v a level)", r.MaxDepth, r.DeepP99, bound, hop)
	}
	// Issue 19's goal: every home within one block of the head whenever
	// the authorities commit one. Met at the default shape (200 homes, 8
	// neighbours) for seeds 1-20 and at 1,000 homes (seed 1) since a home
	// on the last resort keeps it while it looks for a home (followPolicy.
	// seek), gives no new follower a slot and tells lastResortDepth; before,
	// seeds 6, 7 and 12 had a home 3 blocks behind, and seed 12 still did
	// with the seek but slots open at depth 1 (node/DECISIONS.md).
	// Asserted at the default shape, whatever the seed and durations;
	// reported for the others.
	want := defaultFollowTree()
	want.Seed, want.Warmup, want.Measure = cfg.Seed, cfg.Warmup, cfg.Measure
	if cfg == want && r.MaxLagBlocks > 1 {
		t.Errorf("a home was %d blocks behind the head when the authorities committed a block; want every home within one block", r.MaxLagBlocks)
	}
	t.Logf("every home within one block of the head: %v", r.MaxLagBlocks <= 1)
}
