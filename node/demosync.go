package node

import (
	"context"
	"fmt"
	"time"
)

// The demo's final count of nodes in sync.
//
// The chain does not stop when the demo's time is up: the authorities go on
// deciding blocks (one every 0.6 s or so in 2-s slots) while the summary is
// taken, and a home learns of each by a head push or its next poll
// (follow.go). Comparing every node's height with the first authority's at
// one moment therefore counts as out of sync any home a block behind for a
// few hundred milliseconds, which is how a follower always is. So the head
// is fixed when the time is up (the target: the first authority's height
// and block then), and a node is in sync when it holds that block: it has
// reached the target height within syncWait and its block there is the
// same. The summary also says how far behind the slowest node was at that
// moment (lag_at_stop) and how long it took until every node had the
// target (sync_wait_ms), and for each node that did not get there, why
// (NodeLag).

// syncWait is how long the demo gives the nodes to reach the head it had
// when its time was up: three polls of a home that nobody pushes heads to.
const syncWait = 3 * followEvery

// NodeLag is a node that did not hold the target block when the demo's
// summary was taken.
type NodeLag struct {
	Name   string `json:"name"`
	Height uint64 `json:"height"`
	Behind uint64 `json:"blocks_behind"` // below the target height
	// Upstream is the node it follows, by name ("" for none, or a peer
	// outside the demo); UpstreamBehind how far that one was behind.
	Upstream       string `json:"upstream,omitempty"`
	UpstreamBehind uint64 `json:"upstream_behind,omitempty"`
	Depth          int    `json:"follow_depth"`
	// LastBlockAgo is how long before the summary its head block was made
	// (the block's time), in ms.
	LastBlockAgo int64 `json:"last_block_ago_ms"`
	// Fork: it reached the target height with a different block.
	Fork   bool   `json:"fork,omitempty"`
	Reason string `json:"reason"`
}

// reason says why a node is not in sync, in a line.
func (l NodeLag) reason(target uint64) string {
	ago := fmt.Sprintf("last block %.1f s ago", float64(l.LastBlockAgo)/1000)
	switch {
	case l.Fork:
		return fmt.Sprintf("a different block at height %d than authority-1's (a fork)", target)
	case l.Upstream == "" && l.Depth >= noDepth:
		return fmt.Sprintf("follows nobody (no peer serves it), %d blocks behind; %s", l.Behind, ago)
	case l.Upstream == "":
		return fmt.Sprintf("following a peer outside the demo (depth %d), %d blocks behind; %s", l.Depth, l.Behind, ago)
	case l.UpstreamBehind > 0:
		return fmt.Sprintf("following %s (depth %d), which is itself %d blocks behind; %d blocks behind; %s", l.Upstream, l.Depth, l.UpstreamBehind, l.Behind, ago)
	default:
		return fmt.Sprintf("following %s (depth %d), %d blocks behind; %s", l.Upstream, l.Depth, l.Behind, ago)
	}
}

// syncCount is the outcome of waitInSync.
type syncCount struct {
	height    uint64 // the target
	stateHash string // the first authority's at the target
	inSync    int
	lagAtStop uint64        // the most blocks a node was behind the target when it was fixed
	waited    time.Duration // until every node held the target, or syncWait
	behind    []NodeLag
}

// waitInSync fixes the first authority's head as the target and waits, up
// to syncWait, until every node holds the target block (see the top of
// this file).
func waitInSync(ctx context.Context, nodes []*Node) syncCount {
	start := time.Now()
	head := nodes[0].Status()
	c := syncCount{height: head.Height, stateHash: head.StateHash}
	want, _ := nodes[0].blockHashAt(head.Height)
	for _, n := range nodes {
		if h := n.status.Load().Height; h < c.height {
			c.lagAtStop = max(c.lagAtStop, c.height-h)
		}
	}
	done := make([]bool, len(nodes))
	for {
		c.inSync = 0
		for i, n := range nodes {
			if !done[i] {
				got, ok := n.blockHashAt(c.height)
				done[i] = ok && got == want
			}
			if done[i] {
				c.inSync++
			}
		}
		c.waited = time.Since(start)
		if c.inSync == len(nodes) || c.waited >= syncWait || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.behind = lagging(nodes, done, c.height, want)
	return c
}

// blockHashAt is the hash of n's block at height h, and false while n has
// not reached h (or no longer holds its body).
func (n *Node) blockHashAt(h uint64) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.chain.Status().Height < h {
		return "", false
	}
	b, _, err := n.chain.Block(h)
	if err != nil {
		return "", false
	}
	return b.Hash().String(), true
}

// lagging describes the nodes not done.
func lagging(nodes []*Node, done []bool, target uint64, want string) []NodeLag {
	names := make(map[string]string, len(nodes)) // peer id -> node name
	behind := make(map[string]uint64, len(nodes))
	sts := make([]Status, len(nodes))
	for i, n := range nodes {
		sts[i] = n.Status()
		names[sts[i].NodeID] = sts[i].Name
		if sts[i].Height < target {
			behind[sts[i].Name] = target - sts[i].Height
		}
	}
	now := time.Now().UnixMilli()
	var out []NodeLag
	for i, st := range sts {
		if done[i] {
			continue
		}
		l := NodeLag{Name: st.Name, Height: st.Height, Upstream: names[st.Upstream], Depth: st.FollowDepth,
			LastBlockAgo: max(now-st.BlockTime, 0)}
		if st.Height < target {
			l.Behind = target - st.Height
		} else if got, ok := nodes[i].blockHashAt(target); ok && got != want {
			l.Fork = true
		}
		l.UpstreamBehind = behind[l.Upstream]
		l.Reason = l.reason(target)
		out = append(out, l)
	}
	return out
}
