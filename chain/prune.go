package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Pruning a home's history.
//
// A home keeps the state, the block bodies of a recent window and its own
// statement lines (issue 19); the cleared and settled records of older
// slots (c/<slot>, d/<slot>: about 4.6 KB a slot at 100 homes, 160 MB a
// year) and the other accounts' index lines (80 MB a year) it need not
// keep. PruneHome replaces such a record's stored value by a stub: stubMagic
// and the SHA-256 of the record's value. The state hash covers each entry's
// key and the SHA-256 of its value (keyList), so a stub keeps it exactly:
// Open takes a stub's digest as the entry's, and the hash, the pins and every
// consensus rule stay as they are. Execution never reads a pruned record: it
// asks only about slots still in state.slots and recent ones (above
// history.floor), and PruneHome prunes neither. Result and Settlement of a
// pruned slot report none, as Block does for a pruned body (ErrPruned).
//
// keyHistPruned holds the slot below which records may be stubs; Open's
// index rebuild keeps the index lines of those slots (they cannot be derived
// again) and rebuilds the rest. A store without stubs reads as before; a
// store with stubs cannot be opened by a binary older than this one (it
// would hash the stubs and call the store corrupt), which only homes that
// prune make.
const keyHistPruned = "q" // 8-byte slot key: records of settled slots below it may be stubs

// stubMagic begins a pruned record's stored value (then 32 bytes of
// SHA-256). A JSON record never begins with a NUL byte, nor does zstd's frame.
var stubMagic = []byte{0x00, 'g', 'm', 'p'}

func stubOf(v []byte) []byte {
	d := sha256.Sum256(v)
	return append(bytes.Clone(stubMagic), d[:]...)
}

// isStub reports whether stored value v of state key k is a pruned record's stub.
func isStub(k string, v []byte) bool {
	return len(v) == len(stubMagic)+sha256.Size && bytes.HasPrefix(v, stubMagic) && len(k) >= 2 && (k[:2] == "c/" || k[:2] == "d/")
}

// storedEntry is the state entry of key k whose stored (uncompressed) value
// is v: a stub gives its digest and no value.
func storedEntry(k string, v []byte) entry {
	if isStub(k, v) {
		var e entry
		copy(e.d[:], v[len(stubMagic):])
		return e
	}
	return newEntry(v)
}

// PruneHome prunes what a home need not keep: the bodies and certificates of
// blocks below height below (PruneBlocks), the cleared and settled records of
// the settled slots that ended before block below's time (their digests
// stay, and with them the state hash), and those slots' index lines of every
// account but self, whose statement stays whole. Slots the state still holds
// (orders or attestations not yet pruned) and recent ones are left. It then
// lets badger reclaim the value-log space the deleted values held. It
// returns how many blocks and slots it pruned.
func (c *Chain) PruneHome(below uint64, self ident.Account) (blocks, slots int, err error) {
	c.mu.Lock()
	blocks, err = c.pruneBlocks(below)
	if err == nil {
		slots, err = c.pruneHistory(self)
	}
	c.mu.Unlock()
	if err != nil {
		return blocks, slots, err
	}
	if blocks > 0 || slots > 0 {
		c.collectValueLog()
	}
	return blocks, slots, nil
}

// maxPruneSlots bounds the slots one PruneHome call prunes (one write batch
// of a few MB at most): a home that starts pruning a long history catches up
// over several calls.
const maxPruneSlots = 2_000

// pruneHistory stubs the records of settled slots below the oldest kept
// block's slot that memory no longer needs (see PruneHome). c.mu is held.
func (c *Chain) pruneHistory(self ident.Account) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	if c.pruned <= 1 || c.dir == "" {
		return 0, nil
	}
	var oldest Block
	err := c.db.View(func(txn *badger.Txn) error {
		bb, err := get(txn, heightKey(pfxBlock, c.pruned))
		if err == nil {
			oldest, err = DecodeBlock(bb)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("chain: prune history: block %d: %w", c.pruned, err)
	}
	cut := min(c.g.SlotAt(oldest.Header.Time), c.st.hist.floor+1)
	for sl := range c.st.slots.keys() {
		cut = min(cut, sl) // held slots stay whole, and none is passed over
	}
	from, err := c.histPrunedBelow()
	if err != nil || from >= cut {
		return 0, err
	}
	var mark [8]byte
	copy(mark[:], slotKeyBytes(cut))
	// The marker first: a crash before the stubs leaves whole records below
	// it, which only stay (never index lines that a rebuild would miss).
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(keyHistPruned), mark[:]) }); err != nil {
		return 0, fmt.Errorf("chain: prune history: %w", err)
	}
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err = storeHist{c.db}.scanRange("d/", from, cut, func(sl unit.Slot, v []byte) error {
		if c.st.slots.has(sl) || n >= maxPruneSlots {
			return nil
		}
		n++
		return c.stubSlot(wb, sl, v, self)
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return n, fmt.Errorf("chain: prune history: %w", err)
	}
	return n, nil
}

// stubSlot writes into wb the stubs of slot sl's settled record (v) and its
// cleared record, and deletes its index lines but self's.
func (c *Chain) stubSlot(wb *badger.WriteBatch, sl unit.Slot, v []byte, self ident.Account) error {
	var st market.Settlement
	if err := strictDecode(v, &st); err != nil {
		return fmt.Errorf("state entry d/%s: %w", slotKey(sl), err)
	}
	for a := range linesOf(sl, st, 0, c.g.Operator) {
		if a != self {
			if err := wb.Delete(accountKey(a, sl)); err != nil {
				return err
			}
		}
	}
	if err := wb.Set([]byte(pfxState+"d/"+slotKey(sl)), stubOf(v)); err != nil {
		return err
	}
	cv, ok, err := storeHist{c.db}.record("c/" + slotKey(sl)) // not a stub (record)
	if err != nil || !ok {
		return err
	}
	return wb.Set([]byte(pfxState+"c/"+slotKey(sl)), stubOf(cv))
}

// histPrunedBelow is the slot below which settled slots' records may be
// stubs (keyHistPruned), or the least slot when none are.
func (c *Chain) histPrunedBelow() (unit.Slot, error) {
	sl := unit.Slot(-1 << 63)
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(keyHistPruned))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		var v []byte
		if err == nil {
			v, err = item.ValueCopy(nil)
		}
		if err == nil {
			sl, err = parseSlotKeyBytes(v)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("chain: history pruning marker: %w", err)
	}
	return sl, nil
}

// scanRange calls fn for every whole (not stubbed) record under prefix
// ("c/" or "d/") of the slots from .. to-1, in slot order.
func (h storeHist) scanRange(prefix string, from, to unit.Slot, fn func(sl unit.Slot, v []byte) error) error {
	return h.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxState + prefix)})
		defer it.Close()
		for it.Seek([]byte(pfxState + prefix + slotKey(from))); it.Valid(); it.Next() {
			k := string(it.Item().Key()[len(pfxState):])
			sl, err := parseSlotKey(k[len(prefix):])
			if err != nil {
				return err
			}
			if sl >= to {
				return nil
			}
			v, err := valueOf(it.Item())
			if err != nil {
				return err
			}
			if isStub(k, v) {
				continue
			}
			if err := fn(sl, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// collectValueLog lets badger rewrite value-log files that are mostly
// deleted values (block bodies, pruned records): a few passes, each
// rewriting at most one file that is at least half garbage. Deleted values
// free disk only this way. It runs in the background, one at a time (a call
// while one runs does nothing), and holds none of the chain's locks: a pass
// rewrites up to 16 MB, seconds on an SD card, and the node's loop, its
// commits and its API readers go on meanwhile. Close waits for it.
func (c *Chain) collectValueLog() {
	if !c.gcBusy.CompareAndSwap(false, true) {
		return
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		c.gcBusy.Store(false)
		return
	}
	c.gc.Add(1) // under the lock: Close, which sets closed under it, waits for this
	c.mu.RUnlock()
	go func() {
		defer c.gc.Done()
		defer c.gcBusy.Store(false)
		for range 4 {
			if c.db.RunValueLogGC(0.5) != nil {
				break // badger.ErrNoRewrite: nothing (more) worth rewriting; or in memory
			}
		}
	}()
}

// lineSlot is the slot of an index key (its last 8 bytes).
func lineSlot(k []byte) (unit.Slot, error) {
	if len(k) < 8 {
		return 0, fmt.Errorf("index key %q", k)
	}
	return unit.Slot(binary.BigEndian.Uint64(k[len(k)-8:]) ^ (1 << 63)), nil
}
