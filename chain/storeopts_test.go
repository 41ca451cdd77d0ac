package chain

import (
	"testing"

	"github.com/dgraph-io/badger/v4/options"
)

// TestOldOptionsStoreOpens: a store written with the options of before
// (zstd-compressed SSTables of 2 MiB, doubling per level, an index cache)
// opens with today's, reads its old blocks, goes on with new ones and
// reopens with the same status and blocks.
func TestOldOptionsStoreOpens(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	opt := storeOptions(dir).WithCompression(options.ZSTD).WithBaseTableSize(2 << 20).WithIndexCacheSize(2 << 20)
	opt.TableSizeMultiplier = 2
	c, err := open(dir, opt, g, false)
	if err != nil {
		t.Fatalf("open with the old options: %v", err)
	}
	bigSlot(t, c, 10, 40, 1)
	compressed := 0
	for _, ti := range c.db.Tables() {
		if ti.OnDiskSize < ti.UncompressedSize {
			compressed++
		}
	}
	old := c.Status()
	c.Close()
	if compressed == 0 {
		// Close flushes the memtable: then there are tables.
		c, err = open(dir, opt, g, true)
		if err != nil {
			t.Fatalf("reopen with the old options: %v", err)
		}
		for _, ti := range c.db.Tables() {
			if ti.OnDiskSize < ti.UncompressedSize {
				compressed++
			}
		}
		c.Close()
	}
	if compressed == 0 {
		t.Fatalf("the store written with the old options has no compressed SSTable; want some")
	}
	want, blocks := goOn(t, dir, g, old)
	c = reopenSame(t, dir, g, want, blocks)
	defer c.Close()
	if r, ok := c.Result(10); !ok || len(r.Trades) == 0 {
		t.Fatalf("slot 10's cleared record (written with the old options): ok %v, %d trades", ok, len(r.Trades))
	}
}

// goOn opens the store in dir, checks that its status is old, commits
// another slot (slot 20, 40 orders) and closes it; it returns the status and
// the blocks then.
func goOn(t *testing.T, dir string, g Genesis, old Status) (Status, []Block) {
	t.Helper()
	c := openDir(t, dir, g)
	defer c.Close()
	if got := c.Status(); got != old {
		t.Fatalf("reopened status %+v, want %+v", got, old)
	}
	bigSlot(t, c, 20, 40, 100)
	return c.Status(), allBlocks(t, c)
}

// reopenSame opens the store in dir and checks that it has status want and
// holds blocks.
func reopenSame(t *testing.T, dir string, g Genesis, want Status, blocks []Block) *Chain {
	t.Helper()
	c := openDir(t, dir, g)
	if got := c.Status(); got != want {
		c.Close()
		t.Fatalf("reopened status %+v, want %+v", got, want)
	}
	sameBlocks(t, c, blocks)
	return c
}

// allBlocks is c's blocks from genesis to the head.
func allBlocks(t *testing.T, c *Chain) []Block {
	t.Helper()
	var blocks []Block
	for h := range c.Status().Height + 1 {
		b, _, err := c.Block(h)
		if err != nil {
			t.Fatalf("Block(%d): %v", h, err)
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// sameBlocks checks that c holds blocks, at their heights.
func sameBlocks(t *testing.T, c *Chain, blocks []Block) {
	t.Helper()
	for h, b := range blocks {
		got, _, err := c.Block(uint64(h))
		if err != nil || got.Hash() != b.Hash() {
			t.Fatalf("Block(%d) after reopen: hash %s, %v; want %s", h, got.Hash(), err, b.Hash())
		}
	}
}
