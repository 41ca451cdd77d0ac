package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A node whose chain store is damaged while it is down does not refuse to start
// nor use the damage: it moves the store aside, fetches the chain again from
// its peers, and ends at the same state hash as they.
func TestCorruptStoreRepairedFromPeers(t *testing.T) {
	parallelNetwork(t)
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := slotNet(t, 1, 1, 2*time.Second)
	auth := start(t, paths[0], Options{})
	home := start(t, paths[1], Options{})
	waitFor(t, "a few blocks", 60*time.Second, func() bool { return home.n.Status().Height >= 3 })
	home.Halt(t)

	chainDir := filepath.Join(filepath.Dir(paths[1]), "data", "chain")
	entries, err := os.ReadDir(chainDir)
	if err != nil {
		t.Fatal(err)
	}
	damaged := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sst") || strings.HasSuffix(e.Name(), ".vlog") || e.Name() == "MANIFEST" {
			if err := os.WriteFile(filepath.Join(chainDir, e.Name()), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatalf("no store files found in %s to damage", chainDir)
	}

	back := start(t, paths[1], Options{})
	st := back.n.Status()
	if !strings.HasPrefix(st.StoreRepaired, chainDir+".corrupt-") {
		t.Fatalf("status store_repaired = %q; want the damaged store moved to %s.corrupt-<time>", st.StoreRepaired, chainDir)
	}
	if b, err := os.ReadFile(filepath.Join(st.StoreRepaired, "MANIFEST")); err != nil || string(b) != "garbage" {
		t.Errorf("the damaged store was not kept as it was: MANIFEST %q, %v", b, err)
	}
	target := auth.n.Status().Height
	waitFor(t, "the repaired home to catch up", 60*time.Second, func() bool { return back.n.Status().Height >= target })
	h := back.n.Status().Height
	auth.n.mu.RLock()
	blk, _, err := auth.n.chain.Block(h)
	auth.n.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	back.n.mu.RLock()
	mine, _, err := back.n.chain.Block(h)
	back.n.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mine.Header.StateHash, blk.Header.StateHash; got != want {
		t.Errorf("state hash at height %d after repair: %s; the authority has %s", h, got, want)
	}
}

// An authority whose store is damaged has a consensus state ahead of its
// (re-fetched) chain: it follows until it has caught up, then proposes again.
func TestCorruptAuthorityStoreRepaired(t *testing.T) {
	parallelNetwork(t)
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 4, nil)
	var nodes []*running
	for _, p := range paths[:4] {
		nodes = append(nodes, start(t, p, Options{}))
	}
	a := nodes[0].n
	waitFor(t, "the authorities to connect", 30*time.Second, func() bool { return len(a.host.Peers()) >= 3 })
	work := &feeder{n: a, key: nodeKey(t, paths[4])}
	waitFor(t, "five blocks", 60*time.Second, func() bool { work.feed(); return a.Status().Height >= 5 })

	victim := nodes[3]
	self := victim.n.self
	victim.Halt(t)
	chainDir := filepath.Join(filepath.Dir(paths[3]), "data", "chain")
	if err := os.WriteFile(filepath.Join(chainDir, "MANIFEST"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	back := start(t, paths[3], Options{})
	if back.n.Status().StoreRepaired == "" {
		t.Fatal("the damaged authority store was not reported as repaired")
	}
	from := a.Status().Height
	waitFor(t, "a block proposed by the repaired authority", 90*time.Second, func() bool {
		work.feed()
		return proposedSince(a, from, self)
	})
	if st := back.n.Status(); !st.Voting || st.Height < from {
		t.Errorf("repaired authority: voting %v at height %d; want voting, at least %d", st.Voting, st.Height, from)
	}
}
