package node

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/wire"
)

// followNet starts one authority serving at most one follower and three homes,
// with the DHT on or off (mDNS off: the homes meet through the DHT or not at
// all). It feeds the authority orders until every home has followed it 15
// blocks up, and returns the nodes and the feeder.
func followNet(t *testing.T, dht bool) (auth *running, homes []*running, work *feeder) {
	t.Helper()
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	parallelNetwork(t)
	paths := demoNet(t, 3, 1, farSlots)
	for _, p := range paths {
		editConfig(t, p, func(c *config.Node) {
			c.Network.MDNS, c.Network.DHT = false, dht
			c.Trading.Enabled = false // the feeder makes the blocks
			c.Network.Followers = 1   // every node serves one: a chain of homes under the authority
		})
	}
	auth = start(t, paths[0], Options{})
	for _, p := range paths[1:] {
		homes = append(homes, start(t, p, Options{}))
	}
	if dht {
		waitFor(t, "the homes to meet through the DHT", 30*time.Second, func() bool {
			for _, h := range homes {
				if len(h.n.host.Peers()) < 3 {
					return false
				}
			}
			return true
		})
	}
	work = &feeder{n: auth.n, key: nodeKey(t, paths[1])}
	target := auth.n.Status().Height + 15
	waitFor(t, fmt.Sprintf("every home at height %d", target), 60*time.Second, func() bool {
		work.feed()
		for _, h := range homes {
			if h.n.Status().Height < target {
				return false
			}
		}
		return true
	})
	return auth, homes, work
}

// noTradeNet writes a network of one authority and homes that do not trade
// (a feeder makes the blocks); a multi-node run, skipped under -short.
func noTradeNet(t *testing.T, homes int) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, homes, 1, farSlots)
	for _, p := range paths {
		editConfig(t, p, func(c *config.Node) { c.Trading.Enabled = false })
	}
	return paths
}

// An authority that serves one follower turns the other homes away, and they
// follow the home it serves: the blocks leave the authority once.
func TestHomesFollowHomes(t *testing.T) {
	auth, homes, _ := followNet(t, true)
	st := auth.n.Status()
	if st.Followers != 1 || st.SyncBusy == 0 {
		t.Errorf("authority: %d followers, %d busy answers; want 1 follower and some busy answers", st.Followers, st.SyncBusy)
	}
	var homeIDs []string
	for _, h := range homes {
		homeIDs = append(homeIDs, h.n.host.ID())
	}
	// A home the authority served as a last resort while no other home was
	// ahead of it looks for a home again after probeEvery.
	followingHomes := func() (n int) {
		for _, h := range homes {
			if slices.Contains(homeIDs, h.n.Status().Upstream) {
				n++
			}
		}
		return n
	}
	if !eventually(probeEvery+10*time.Second, func() bool { return followingHomes() >= 2 }) {
		n := followingHomes()
		for _, h := range homes {
			t.Logf("%s follows %s", h.n.cfg.Node.Name, h.n.Status().Upstream)
		}
		t.Errorf("%d homes follow another home; want at least 2 (the authority serves one)", n)
	}
	// Each home is one hop further from the authority than its upstream. A
	// home learns its upstream's depth from the upstream's next sync answer
	// (within followEvery, or at its next head push), so just after an
	// upstream changed its own upstream its followers are a hop off: the
	// depths are compared on one status of each home, until they agree.
	var problems []string
	depthsAgree := func() bool {
		problems = problems[:0]
		sts := make([]Status, len(homes))
		depth := map[string]int{auth.n.host.ID(): 0}
		for i, h := range homes {
			sts[i] = h.n.Status()
			depth[h.n.host.ID()] = sts[i].FollowDepth
		}
		for i, h := range homes {
			st := sts[i]
			if up, ok := depth[st.Upstream]; !ok || st.FollowDepth != up+1 || st.FollowDepth >= maxFollowDepth {
				problems = append(problems, fmt.Sprintf("%s: follow_depth %d, upstream %q at depth %d (known %t); want one more than its upstream's, below %d",
					h.n.cfg.Node.Name, st.FollowDepth, st.Upstream, up, ok, maxFollowDepth))
			}
		}
		return len(problems) == 0
	}
	if !eventually(10*followEvery, depthsAgree) {
		for _, p := range problems {
			t.Error(p)
		}
	}
}

// Homes that know no other home still follow: the authority serves them as a
// last resort beyond its follower limit.
func TestHomesFollowWithoutOtherHomes(t *testing.T) {
	auth, homes, _ := followNet(t, false)
	for _, h := range homes {
		if up := h.n.Status().Upstream; up != auth.n.host.ID() {
			t.Errorf("%s follows %q; want the authority %s, the only peer it has", h.n.cfg.Node.Name, up, auth.n.host.ID())
		}
	}
	if st := auth.n.Status(); st.Followers != 1 {
		t.Errorf("authority: %d followers; want 1 (the others are served as a last resort)", st.Followers)
	}
}

// A node tells its followers its new height as it commits, so a home
// follows at once, not a poll interval later: here the home polls once an
// hour and still keeps up.
func TestHeadPush(t *testing.T) {
	paths := noTradeNet(t, 1)
	auth := start(t, paths[0], Options{})
	home := start(t, paths[1], Options{FollowEvery: time.Hour})
	waitFor(t, "the home to follow the authority", 20*time.Second, func() bool { return home.n.Status().Upstream == auth.n.host.ID() })
	work := &feeder{n: auth.n, key: nodeKey(t, paths[1])}
	blocksOneByOne(t, auth, work, 5, home)
}

// blocksOneByOne makes the authority commit count blocks, one at a time,
// and waits for every home in homes to apply each.
func blocksOneByOne(t *testing.T, auth *running, work *feeder, count int, homes ...*running) {
	t.Helper()
	for range count {
		h := auth.n.Status().Height
		waitFor(t, "a block", 10*time.Second, func() bool {
			if auth.n.Status().PendingTxs == 0 {
				work.feed()
			}
			return auth.n.Status().Height > h
		})
		want := auth.n.Status().Height
		for _, home := range homes {
			waitFor(t, fmt.Sprintf("%s at height %d", home.n.cfg.Node.Name, want), 10*time.Second, func() bool { return home.n.Status().Height >= want })
		}
	}
}

// A block reaches a home two levels below the authority in a head/2 push:
// its upstream, a home, checked the certificate and forwarded the block,
// and the deep home applied it as pushed (pushed_blocks), not by sync.
func TestHeadBlockPushTwoLevels(t *testing.T) {
	auth, homes, work := followNet(t, true)
	var deep *running
	waitFor(t, "a home two levels down", probeEvery+20*time.Second, func() bool {
		for _, h := range homes {
			if d := h.n.Status().FollowDepth; d >= 2 && d < maxFollowDepth {
				deep = h
				return true
			}
		}
		return false
	})
	before := deep.n.Status().PushedBlocks
	const blocks = 5
	blocksOneByOne(t, auth, work, blocks, deep)
	// A block comes by sync only when the deep home's once-a-second poll
	// happens to reach its upstream between that home's commit and its push.
	st := deep.n.Status()
	if got := st.PushedBlocks - before; got < blocks-2 {
		t.Errorf("%s (depth %d, upstream %s) applied %d of %d blocks as pushed; want at least %d", deep.n.cfg.Node.Name, st.FollowDepth, st.Upstream, got, blocks, blocks-2)
	}
}

// A follower of the previous release, which speaks head/1 only, is told
// the height (head/1) and syncs at once: it follows though it polls once
// an hour, and applies no block as pushed.
func TestHeadPushToPreviousRelease(t *testing.T) {
	paths := noTradeNet(t, 1)
	var v1, v2 atomic.Int64
	count := func(proto string, _ ed25519.PublicKey, _ []byte) bool {
		switch proto {
		case wire.HeadV1Proto:
			v1.Add(1)
		case wire.HeadProto:
			v2.Add(1)
		}
		return true
	}
	auth := start(t, paths[0], Options{})
	// As the previous release, which never served head/2.
	home := start(t, paths[1], Options{FollowEvery: time.Hour, Filter: count, Withhold: []string{wire.HeadProto}})
	waitFor(t, "the authority to hear that the home speaks head/1 only", 20*time.Second, func() bool {
		v, ok := auth.n.host.Speaks(home.n.host.ID(), wire.HeadProto, wire.HeadV1Proto)
		return ok && v == wire.HeadV1Proto
	})
	waitFor(t, "the home to follow the authority", 20*time.Second, func() bool { return home.n.Status().Upstream == auth.n.host.ID() })
	pushed, heads, blocks := home.n.Status().PushedBlocks, v1.Load(), v2.Load()
	work := &feeder{n: auth.n, key: nodeKey(t, paths[1])}
	blocksOneByOne(t, auth, work, 5, home)
	if got := v1.Load() - heads; got == 0 {
		t.Errorf("the home got no head/1 frame over 5 blocks; want the authority to fall back to head/1")
	}
	if got := v2.Load() - blocks; got != 0 {
		t.Errorf("the home got %d head/2 frames after it stopped serving head/2; want 0", got)
	}
	if got := home.n.Status().PushedBlocks - pushed; got != 0 {
		t.Errorf("the home applied %d blocks as pushed; want 0 (it speaks head/1 only)", got)
	}
}

// A home whose first sync rounds found no peer follows as soon as it
// connects to one, not a follow interval later: here the authority starts
// after the home has ticked, and the home polls once an hour.
func TestHomeFollowsOnFirstConnection(t *testing.T) {
	paths := noTradeNet(t, 1)
	var beats atomic.Int64
	home := start(t, paths[1], Options{FollowEvery: time.Hour, Heartbeat: func() { beats.Add(1) }})
	waitFor(t, "the home's first sync rounds", 10*time.Second, func() bool { return beats.Load() >= 3 })
	if n := len(home.n.host.Peers()); n != 0 {
		t.Fatalf("the home has %d peers before the authority starts; want none", n)
	}
	auth := start(t, paths[0], Options{})
	waitFor(t, "the home to follow the authority", 30*time.Second, func() bool { return home.n.Status().Upstream == auth.n.host.ID() })
}
