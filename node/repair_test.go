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
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities, opts.Slot = 1, 1, 2*time.Second
	paths, err := writeDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth := start(t, paths[0], Options{})
	home := start(t, paths[1], Options{})
	waitFor(t, "a few blocks", 60*time.Second, func() bool { return home.n.Status().Height >= 3 })
	home.halt(t)

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
