package chain

import (
	"sync"
	"testing"
	"time"
)

// TestTablesChanged: tablesChanged reports a change of badger's SSTables
// once, and not again while they stay the same; a new level-0 table (a
// flushed memtable) also as a flush, and Commit then returns the flushed
// memtable's arena to the system, once.
func TestTablesChanged(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	if n := len(c.db.Tables()); n != 0 {
		t.Fatalf("a new store has %d SSTables, want 0", n)
	}
	if changed, flushed := c.tablesChanged(); changed || flushed {
		t.Fatalf("tablesChanged on a new store with no SSTables: %v, %v; want false, false", changed, flushed)
	}
	bigSlot(t, c, 10, 40, 1)
	c.Close() // flushes the memtable: an SSTable at level 0
	c = openDir(t, dir, g)
	defer c.Close()
	if n := len(c.db.Tables()); n == 0 {
		t.Fatalf("the reopened store has no SSTable; want the flushed memtable's")
	}
	if changed, flushed := c.tablesChanged(); !changed || !flushed {
		t.Fatalf("tablesChanged after the store's first SSTable: %v, %v; want true, true", changed, flushed)
	}
	if changed, flushed := c.tablesChanged(); changed || flushed {
		t.Fatalf("tablesChanged again with the same SSTables: %v, %v; want false, false", changed, flushed)
	}

	// A reopened store: its first Commit sees the level-0 table as new.
	c.Close()
	c = openDir(t, dir, g)
	defer c.Close()
	bigSlot(t, c, 20, 2, 41)
	deadline := time.Now().Add(10 * arenaDelay)
	for c.arenaReleases.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(arenaDelay / 10)
	}
	bigSlot(t, c, 30, 2, 43) // no new table: nothing more to release
	time.Sleep(2 * arenaDelay)
	if got := c.arenaReleases.Load(); got != 1 {
		t.Errorf("arenas released after two blocks on a store with one flushed memtable: %d, want 1", got)
	}
}

// TestReleaseMappedSoon: requests from many goroutines at once run the
// release at least once and at most once each, one at a time, and leave
// nothing pending; a request after that runs it again.
func TestReleaseMappedSoon(t *testing.T) {
	c := openDir(t, t.TempDir(), testGenesis())
	defer c.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				c.mu.Lock() // as Commit asks
				c.releaseMappedSoon()
				c.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	c.mu.Lock()
	c.paging.Wait()
	c.mu.Unlock()
	runs := c.pageRuns.Load()
	if runs < 1 || runs > 400 {
		t.Fatalf("400 requests ran the release %d times, want 1 to 400", runs)
	}
	if c.pageBusy.Load() || c.pageAgain.Load() {
		t.Fatalf("after the releases: busy %v, pending %v; want neither", c.pageBusy.Load(), c.pageAgain.Load())
	}
	c.mu.Lock()
	c.releaseMappedSoon()
	c.paging.Wait()
	c.mu.Unlock()
	if got := c.pageRuns.Load(); got != runs+1 {
		t.Fatalf("a request after the others ran the release %d more times, want 1", got-runs)
	}
}
