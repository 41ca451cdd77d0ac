package node

import (
	"errors"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
)

// TestStateSyncNode: a home started on an empty store while the chain is
// far ahead joins from the snapshots an authority and a home that prunes
// serve (it replays no block: the blocks below the snapshot are not in its
// store; it downloads no old record: it stubs them, as the pruning home
// does), shows the progress in its status, drops neither peer, and follows
// the chain from there.
func TestStateSyncNode(t *testing.T) {
	parallelNetwork(t)
	if testing.Short() {
		t.Skip("runs a network for about a minute; runs without -short")
	}
	paths := slotNet(t, 2, 1, 2*time.Second)
	serving := Options{SnapshotEvery: 8}
	auth := start(t, paths[0], serving)
	pruned := start(t, paths[1], Options{SnapshotEvery: 8, KeepBlocks: 4})
	// Four slots stubbed on the pruning home: the last snapshot (at most 8
	// blocks, some 3 slots, before) is of a state with records to stub.
	waitFor(t, "the chain to reach height 24 and the serving home to prune 4 slots", 180*time.Second, func() bool {
		return auth.n.Status().Height >= 24 && stubbedSlots(auth, pruned) >= 4
	})
	late := start(t, paths[2], Options{SnapshotEvery: 8, StateSyncBehind: 10})
	waitFor(t, "the new home to join from a snapshot", 120*time.Second, func() bool {
		p := late.n.Status().StateSync
		return p != nil && p.Phase == "done"
	})
	p := late.n.Status().StateSync
	if p.Height < 16 || p.Done != p.Entries || p.Entries == 0 || len(p.Dropped) != 0 || p.Stubbed == 0 {
		t.Errorf("state sync progress %+v: want a snapshot at 16 or above, every entry, old records stubbed, nobody dropped (not the pruned home)", p)
	}
	if n := stubbedSlots(auth, late); n == 0 {
		t.Errorf("joined home: every settled slot's record held; want the old ones stubbed, as on a pruned home")
	}
	target := auth.n.Status().Height
	waitFor(t, "the new home to follow the chain", 60*time.Second, func() bool { return late.n.Status().Height >= target })
	st := late.n.Status()
	auth.n.mu.RLock()
	blk, _, err := auth.n.chain.Block(st.Height)
	auth.n.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.StateHash, blk.Header.StateHash.String(); got != want {
		t.Errorf("joined home at %d: state %s, the authority's block says %s", st.Height, got, want)
	}
	late.n.mu.RLock()
	_, _, err = late.n.chain.Block(1)
	late.n.mu.RUnlock()
	if !errors.Is(err, chain.ErrPruned) {
		t.Errorf("block 1 on the joined home: %v, want chain.ErrPruned (no replay)", err)
	}
	if s := auth.n.Status().Snapshots; s == nil || s.Answers == 0 || len(s.Held) == 0 {
		t.Errorf("authority's snapshots %+v: want some held and answered", s)
	}
}

// stubbedSlots is how many slots before the last one the home has a
// settlement of it reports none for while the authority has one: records
// the home holds as stubs.
func stubbedSlots(auth, home *running) int {
	auth.n.mu.RLock()
	defer auth.n.mu.RUnlock()
	home.n.mu.RLock()
	defer home.n.mu.RUnlock()
	g := auth.n.chain.Genesis()
	first := g.SlotAt(time.Now().Add(-10 * time.Minute).UnixMilli())
	last := g.SlotAt(time.Now().UnixMilli())
	for ; last > first; last-- {
		if _, ok := home.n.chain.Settlement(last); ok {
			break
		}
	}
	n := 0
	for sl := first; sl < last; sl++ {
		if _, ok := auth.n.chain.Settlement(sl); ok {
			if _, ok := home.n.chain.Settlement(sl); !ok {
				n++
			}
		}
	}
	return n
}
