package chain

import (
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// TestBuilderPool: the chain finds badger's pool of table builders'
// allocators (fails if a badger release renamed or retyped the fields
// builderPool reads), badger's builders return their allocators to it (a
// compaction of level 0 leaves them there), and the next Commit releases
// them all.
func TestBuilderPool(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	if c.builders == nil {
		t.Fatal("builderPool found no pool in badger's DB: badger's fields allocPool or allocCh changed; see chain/builders.go")
	}
	levels := func() (l []int, l0, other int) {
		for _, tb := range c.db.Tables() {
			l = append(l, tb.Level)
			if tb.Level == 0 {
				l0++
			} else {
				other++
			}
		}
		return l, l0, other
	}
	// Flush memtables (Close) until a compaction of level 0 is due: three
	// level-0 tables (one more than NumLevelZeroTables) compact into a
	// lower level by themselves once the store is open; a level-0 table
	// beside tables at a lower level compacts into them with Flatten. Its
	// builders return their allocators to the pool before its tables
	// replace level 0's.
	for i := 0; ; i++ {
		bigSlot(t, c, unit.Slot(10*(i+1)), 40, uint64(1+40*i))
		c.Close()
		c = openDir(t, dir, g)
		l, l0, other := levels()
		if l0 > 0 && other > 0 && l0 < 3 {
			if err := c.db.Flatten(1); err != nil {
				t.Fatal(err)
			}
		}
		if l0 >= 3 || l0 > 0 && other > 0 {
			break
		}
		if i == 5 {
			t.Fatalf("after %d memtables flushed, SSTables at levels %v; want a compaction of level 0 due", i+1, l)
		}
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for _, l0, _ := levels(); (l0 > 0 || len(c.builders) == 0) && time.Now().Before(deadline); _, l0, _ = levels() {
		time.Sleep(10 * time.Millisecond)
	}
	if l, l0, _ := levels(); l0 > 0 || len(c.builders) == 0 {
		t.Fatalf("after a compaction of level 0: tables at levels %v, %d allocators in the pool; want none at level 0 and some in the pool (badger builds tables with allocators that go back to the pool builderPool found)", l, len(c.builders))
	}
	before := c.builderBytes.Load()
	bigSlot(t, c, 40, 2, 121)
	if n := len(c.builders); n != 0 {
		t.Errorf("allocators in badger's pool after Commit: %d, want 0", n)
	}
	if got := c.builderBytes.Load() - before; got <= 0 {
		t.Errorf("bytes Commit released from the pool: %d, want > 0", got)
	}
}
