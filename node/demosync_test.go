package node

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestNodeLagReason(t *testing.T) {
	for _, c := range []struct {
		l    NodeLag
		want string
	}{
		{NodeLag{Fork: true}, "a different block at height 40 than authority-1's (a fork)"},
		{NodeLag{Behind: 3, Depth: noDepth, LastBlockAgo: 4100}, "follows nobody (no peer serves it), 3 blocks behind; last block 4.1 s ago"},
		{NodeLag{Behind: 1, Depth: 2, LastBlockAgo: 800}, "following a peer outside the demo (depth 2), 1 blocks behind; last block 0.8 s ago"},
		{NodeLag{Behind: 3, Upstream: "home-7", Depth: 2, LastBlockAgo: 4100}, "following home-7 (depth 2), 3 blocks behind; last block 4.1 s ago"},
		{NodeLag{Behind: 5, Upstream: "home-7", UpstreamBehind: 4, Depth: 3, LastBlockAgo: 2000}, "following home-7 (depth 3), which is itself 4 blocks behind; 5 blocks behind; last block 2.0 s ago"},
	} {
		if got := c.l.reason(40); got != c.want {
			t.Errorf("%+v: reason = %q, want %q", c.l, got, c.want)
		}
	}
}

// waitInSync counts a home that follows as in sync although the chain
// moves on while it counts, and reports a home that never ran as behind,
// following nobody.
func TestWaitInSync(t *testing.T) {
	paths := noTradeNet(t, 2)
	auth := start(t, paths[0], Options{})
	home := start(t, paths[1], Options{})
	idle := loaded(t, paths[2]) // never runs
	work := &feeder{n: auth.n, key: nodeKey(t, paths[1])}
	waitFor(t, "the home at height 5", 60*time.Second, func() bool {
		work.feed()
		return home.n.Status().Height >= 5
	})
	stop := make(chan struct{})
	defer close(stop)
	go func() { // blocks go on while the count is taken
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				work.feed()
			}
		}
	}()
	c := waitInSync(context.Background(), []*Node{auth.n, home.n, idle})
	if c.inSync != 2 || len(c.behind) != 1 {
		t.Fatalf("in sync %d, behind %+v; want 2 and the idle home", c.inSync, c.behind)
	}
	l := c.behind[0]
	if l.Name != "home-2" || l.Behind != c.height || l.Height != 0 || !strings.Contains(l.Reason, "follows nobody") {
		t.Errorf("behind: %+v; want home-2 at height 0, %d blocks behind, following nobody", l, c.height)
	}
	if c.lagAtStop != c.height || c.waited < syncWait {
		t.Errorf("lag at stop %d, waited %v; want %d (the idle home) and the whole %v", c.lagAtStop, c.waited, c.height, syncWait)
	}
}
