package chain

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Footprint counts what the committed state holds in memory, for tests and
// the simulator (gridmesh sim year): the parts that could grow with the
// chain's age.
type Footprint struct {
	HistoryRecords int // cleared and settled records held decoded (bounded: see history)
	Slots          int // slots with orders or attestations, not yet pruned
	StateEntries   int // entries of the state (the state hash's key list)
	KeyListBytes   int // the key list's records and offsets: grows with every settled slot
}

// Footprint returns the committed state's footprint.
func (c *Chain) Footprint() Footprint {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Footprint{
		HistoryRecords: c.st.hist.held(),
		Slots:          c.st.slots.len(),
		StateEntries:   c.st.keys.len(),
		KeyListBytes:   c.st.keys.size(),
	}
}

// StoreUsage is the store's size by kind of record (keys and values as
// written, before badger's own overhead and compaction) and badger's files.
type StoreUsage struct {
	Blocks       int64            // block bodies (B/)
	Certificates int64            // certificates (C/)
	State        int64            // state entries (S/)
	Index        int64            // account index (A/)
	Other        int64            // genesis, head, markers
	Keys         map[string]int64 // entries by the same kinds: "blocks", "certificates", "state", "index", "other"

	LSMBytes, VlogBytes int64 // badger's SSTables and value log on disk (DB.Size)
}

// Usage scans every key of the store (key-only, values by their recorded
// size). Its cost is linear in the store; it is meant for the simulator and
// diagnostics, not for a node's loop.
func (c *Chain) Usage() (StoreUsage, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return StoreUsage{}, ErrClosed
	}
	u := StoreUsage{Keys: map[string]int64{}}
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			n := int64(len(k)) + item.ValueSize()
			kind := "other"
			switch {
			case len(k) >= 2 && string(k[:2]) == pfxBlock:
				u.Blocks += n
				kind = "blocks"
			case len(k) >= 2 && string(k[:2]) == pfxCert:
				u.Certificates += n
				kind = "certificates"
			case len(k) >= 2 && string(k[:2]) == pfxState:
				u.State += n
				kind = "state"
			case len(k) >= 2 && string(k[:2]) == pfxAccount:
				u.Index += n
				kind = "index"
			default:
				u.Other += n
			}
			u.Keys[kind]++
		}
		return nil
	})
	if err != nil {
		return StoreUsage{}, fmt.Errorf("chain: store usage: %w", err)
	}
	u.LSMBytes, u.VlogBytes = c.db.Size()
	return u, nil
}
