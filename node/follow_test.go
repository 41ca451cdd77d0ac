package node

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
)

// followNet starts one authority serving at most one follower and three homes,
// with the DHT on or off (mDNS off: the homes meet through the DHT or not at
// all). It feeds the authority orders until every home has followed it 15
// blocks up, and returns the nodes.
func followNet(t *testing.T, dht bool) (auth *running, homes []*running) {
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
	work := &feeder{n: auth.n, key: nodeKey(t, paths[1])}
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
	return auth, homes
}

// An authority that serves one follower turns the other homes away, and they
// follow the home it serves: the blocks leave the authority once.
func TestHomesFollowHomes(t *testing.T) {
	auth, homes := followNet(t, true)
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
	auth, homes := followNet(t, false)
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
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 1, farSlots)
	for _, p := range paths {
		editConfig(t, p, func(c *config.Node) { c.Trading.Enabled = false })
	}
	auth := start(t, paths[0], Options{})
	home := start(t, paths[1], Options{FollowEvery: time.Hour})
	waitFor(t, "the home to follow the authority", 20*time.Second, func() bool { return home.n.Status().Upstream == auth.n.host.ID() })
	work := &feeder{n: auth.n, key: nodeKey(t, paths[1])}
	for range 5 {
		h := auth.n.Status().Height
		waitFor(t, "a block", 10*time.Second, func() bool {
			if auth.n.Status().PendingTxs == 0 {
				work.feed()
			}
			return auth.n.Status().Height > h
		})
		want := auth.n.Status().Height
		waitFor(t, fmt.Sprintf("the home at height %d", want), 10*time.Second, func() bool { return home.n.Status().Height >= want })
	}
}

// A home whose first sync rounds found no peer follows as soon as it
// connects to one, not a follow interval later: here the authority starts
// after the home has ticked, and the home polls once an hour.
func TestHomeFollowsOnFirstConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 1, farSlots)
	for _, p := range paths {
		editConfig(t, p, func(c *config.Node) { c.Trading.Enabled = false })
	}
	var beats atomic.Int64
	home := start(t, paths[1], Options{FollowEvery: time.Hour, Heartbeat: func() { beats.Add(1) }})
	waitFor(t, "the home's first sync rounds", 10*time.Second, func() bool { return beats.Load() >= 3 })
	if n := len(home.n.host.Peers()); n != 0 {
		t.Fatalf("the home has %d peers before the authority starts; want none", n)
	}
	auth := start(t, paths[0], Options{})
	waitFor(t, "the home to follow the authority", 30*time.Second, func() bool { return home.n.Status().Upstream == auth.n.host.ID() })
}
