package chain

import (
	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// storeOptions are badger's options for a store on disk in dir.
func storeOptions(dir string) badger.Options {
	// badger's heap is mostly its table builders: each builds a whole
	// SSTable in memory (a z.Allocator of twice the table's target size,
	// growing as needed) and goes back to a pool of 8 that only frees one
	// after 2 s without a compaction or flush, so a busy store keeps up to
	// 8 of them. Their size is bounded here: SSTables of 1 MiB at every
	// level (TableSizeMultiplier 1; the default doubles per level, 64 MiB
	// tables at the bottom, which kept 144 MB of builders live after a
	// simulated year) and no SSTable compression (no second buffer per
	// block; the large values are compressed already, by pack, and the
	// rest are small). An L0 table is a whole memtable: 8 MiB, the least
	// that holds a full block's write (batch limit 15 %,
	// TestFullBlockFitsOneTransaction). No index cache: indexes are read
	// from the mapped tables. The compression and table size of a table
	// are its own (MANIFEST, table index): a store written with other
	// options opens and reads as before, compacted into new tables.
	opt := badger.DefaultOptions(dir).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(0).
		WithBaseTableSize(1 << 20).
		WithValueLogFileSize(16 << 20).
		WithValueThreshold(1 << 10).
		WithCompression(options.None).
		WithNumCompactors(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithMetricsEnabled(false).
		WithLogger(nil)
	opt.TableSizeMultiplier = 1
	return opt
}
