package chain

import "testing"

// TestTablesChanged: tablesChanged reports a change of badger's SSTables
// once, and not again while they stay the same.
func TestTablesChanged(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	if n := len(c.db.Tables()); n != 0 {
		t.Fatalf("a new store has %d SSTables, want 0", n)
	}
	if c.tablesChanged() {
		t.Fatalf("tablesChanged on a new store with no SSTables: true, want false")
	}
	bigSlot(t, c, 10, 40, 1)
	c.Close() // flushes the memtable: an SSTable
	c = openDir(t, dir, g)
	defer c.Close()
	if n := len(c.db.Tables()); n == 0 {
		t.Fatalf("the reopened store has no SSTable; want the flushed memtable's")
	}
	if !c.tablesChanged() {
		t.Fatalf("tablesChanged after the store's first SSTable: false, want true")
	}
	if c.tablesChanged() {
		t.Fatalf("tablesChanged again with the same SSTables: true, want false")
	}
}
