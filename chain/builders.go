package chain

import (
	"reflect"
	"unsafe"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// badger builds each SSTable in memory, in a table builder's allocator (Go
// memory: ristretto's z.Calloc without the jemalloc build tag), and keeps
// the allocators of finished builders in a pool of up to 8
// (DB.allocPool, z.AllocatorPool), which frees one only after 2 s in which
// no builder started. An allocator grows by doubling to hold its table, so
// by our reading of ristretto's z.Allocator one that built a level-0 table
// (a whole 8 MiB memtable) holds up to about 30 MB, and keeps it when it
// is reused for the next, smaller table. A node catching up on blocks
// (after an outage, a state sync, `gridmesh sim year`) flushes and
// compacts without 2 s pauses, so the pool stays full of them: measured,
// 72 MB of an authority's 85 MB live heap after 30
// simulated days (heap profile), against a soft memory limit of 64 MiB
// (config.DefaultMemoryLimitMiB), so the collector ran nearly without pause.
//
// badger has no option for the pool, so Commit empties it
// (releaseBuilders): every allocator a finished builder returned is
// released, as the pool itself does after 2 s, and the next builder
// allocates its own. What that costs and saves was measured with a badger
// whose pool holds none (chain/DECISIONS.md). The pool is reached through
// badger's unexported fields, by name and type, for the version go.mod
// pins; if a badger release changes them, builderPool finds nothing,
// Commit leaves the pool to badger, and TestBuilderPool fails.

// builderPool is the channel of badger's pool of table builders'
// allocators in db, or nil if db has no such field (another badger).
func builderPool(db *badger.DB) chan *z.Allocator {
	f := reflect.ValueOf(db).Elem().FieldByName("allocPool")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*z.AllocatorPool]() {
		return nil
	}
	// Set in badger.Open before it returns, never again.
	p := *(**z.AllocatorPool)(unsafe.Pointer(f.UnsafeAddr()))
	if p == nil {
		return nil
	}
	ch := reflect.ValueOf(p).Elem().FieldByName("allocCh")
	if !ch.IsValid() || ch.Type() != reflect.TypeFor[chan *z.Allocator]() {
		return nil
	}
	// Set in z.NewAllocatorPool, never again.
	return *(*chan *z.Allocator)(unsafe.Pointer(ch.UnsafeAddr()))
}

// releaseBuilders releases every allocator waiting in badger's pool and
// returns how many bytes they held. The channel is badger's own, so taking
// from it races with nothing; an allocator in the pool belongs to no
// builder. After Close the channel is closed and drained by badger.
func releaseBuilders(pool chan *z.Allocator) (released int) {
	for {
		select {
		case a, ok := <-pool:
			if !ok {
				return released
			}
			released += int(a.Allocated())
			a.Release()
		default:
			return released
		}
	}
}
