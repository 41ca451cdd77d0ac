package chain

import (
	"runtime/debug"
	"time"
)

// badger maps its SSTables, value-log and memtable-log files into memory and
// writes the logs through the mapping: every page it has written or read stays in
// the process's RSS until the kernel needs the memory back. Those pages are
// page cache, not the node's own memory, but on an authority the value log
// grows by about 2 MB a day of 100 homes, so RSS would grow with the chain's
// age; a memtable's log (.mem) grows in RSS up to the memtable's size and
// drops when it is flushed, a sawtooth of 8 MiB whose period at a few homes'
// load is half an hour or more (measured: internal/soaktest). Every
// releaseEvery blocks Commit asks the kernel to page them out
// (Linux: madvise MADV_PAGEOUT, which writes back dirty pages and never loses
// data; elsewhere nothing): a page read again later is read from disk.
//
// It also does so after a block during which badger's SSTables changed
// (tablesChanged: a memtable flushed, a compaction done). A compaction reads
// its tables and writes the new ones through their mappings, and one into
// the last level rewrites most of that level, since the tables above it span
// the store's prefixes (each block adds a line per account to the index, a
// body and a certificate at the end of their ranges), so the pages it leaves
// mapped grow with the store: about 50 MB after 90 simulated days of 100
// homes, up to 190 MB after a year (chain/DECISIONS.md). Released at the
// next block rather than at the next multiple of releaseEvery (hours of real
// time), they no longer accumulate.
const releaseEvery = 64

// A memtable's arena is Go memory (about 10.4 MiB, allocated whole when the
// memtable opens), freed when the memtable has been flushed. Go keeps freed
// pages resident for reuse (its background scavenger returns them only past
// the heap goal plus 10 %: retainExtraPercent, runtime/mgcscavenge.go), and
// by our reading of the hour's soak (README) a new arena placed in used
// pages is zeroed, so resident, at once: the authority rose 9 MB between
// the same points of two memtable cycles, and does not since. So Commit,
// once it sees that a memtable was flushed (a new level-0 table: badger
// writes level 0 only from memtables), returns the freed memory to the
// system arenaDelay later (runtime/debug.FreeOSMemory: a collection and a
// scavenge of the whole heap, off the chain's lock), after badger has
// dropped the flushed memtable. A flush comes every 8 MiB written: about
// every half hour at the soak's five nodes.
const arenaDelay = time.Second

// tablesChanged reports whether badger's set of SSTables differs from the
// one at the last call (the first call: from none), and whether a memtable
// was flushed since (a level-0 table newer than any seen). Commit calls it
// under the write lock; it costs a walk over the tables' list, not their
// files.
func (c *Chain) tablesChanged() (changed, flushed bool) {
	var sum, l0 uint64
	for _, t := range c.db.Tables() {
		sum = sum*1_000_003 + t.ID + 1
		if t.Level == 0 {
			l0 = max(l0, t.ID)
		}
	}
	changed = sum != c.tables
	flushed = l0 > c.flushed
	c.tables, c.flushed = sum, max(c.flushed, l0)
	return changed, flushed
}

// releaseArena returns a flushed memtable's arena to the system, arenaDelay
// from now, and counts it (Chain.arenaReleases).
func (c *Chain) releaseArena() {
	time.AfterFunc(arenaDelay, func() {
		debug.FreeOSMemory()
		c.arenaReleases.Add(1)
	})
}

// releaseMappedSoon pages out the store's mappings (releaseMapped) on
// another goroutine, so that Commit, which asks for it, does not wait for
// the walk of the process's mappings and the kernel's reclaim of their
// pages (what that saved alone was not measured). One release runs at a time;
// asked for while one runs, another follows it. Commit asks under the
// chain's lock, and Close waits for the last.
func (c *Chain) releaseMappedSoon() {
	c.pageAgain.Store(true)
	if !c.pageBusy.CompareAndSwap(false, true) {
		return
	}
	c.paging.Add(1)
	go func() {
		defer c.paging.Done()
		for {
			for c.pageAgain.Swap(false) {
				releaseMapped(c.dir)
				c.pageRuns.Add(1)
			}
			c.pageBusy.Store(false)
			// Asked for after the last Swap, before pageBusy was cleared:
			// that Commit saw a release running and left it to this one.
			if !c.pageAgain.Load() || !c.pageBusy.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}
