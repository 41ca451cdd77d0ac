package chain

import (
	"encoding/binary"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Block returns the committed block at height h (0 = the genesis block) and its
// certificate (nil for genesis).
func (c *Chain) Block(h uint64) (Block, []byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return Block{}, nil, ErrClosed
	}
	if h > c.head.Height {
		return Block{}, nil, fmt.Errorf("%w: block %d (head %d)", ErrNotFound, h, c.head.Height)
	}
	if h < c.pruned && h > 0 {
		return Block{}, nil, fmt.Errorf("%w: block %d (bodies below %d pruned)", ErrPruned, h, c.pruned)
	}
	var b Block
	var cert []byte
	err := c.db.View(func(txn *badger.Txn) error {
		bb, err := get(txn, heightKey(pfxBlock, h))
		if err != nil {
			return err
		}
		if b, err = DecodeBlock(bb); err != nil {
			return err
		}
		cert, err = get(txn, heightKey(pfxCert, h))
		return err
	})
	if err != nil {
		return Block{}, nil, fmt.Errorf("chain: read block %d: %w", h, err)
	}
	if len(cert) == 0 {
		cert = nil
	}
	return b, cert, nil
}

// PruneBlocks deletes the bodies and certificates of blocks 1 .. below−1 (a home
// node that follows the chain need not keep them; authorities archive). The
// head block is always kept, and the genesis block too. Block and Blocks return
// ErrPruned for deleted heights. Deleted bodies free disk only when badger
// rewrites the value-log files holding them, so it then lets badger do so
// (collectValueLog). It returns how many blocks it deleted. PruneHome also
// prunes old history records.
func (c *Chain) PruneBlocks(below uint64) (int, error) {
	c.mu.Lock()
	n, err := c.pruneBlocks(below)
	c.mu.Unlock()
	if n > 0 && err == nil {
		c.collectValueLog()
	}
	return n, err
}

// pruneBlocks is PruneBlocks without the value-log collection; c.mu is held.
func (c *Chain) pruneBlocks(below uint64) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	below = min(below, c.head.Height)
	if below <= c.pruned || below <= 1 {
		return 0, nil
	}
	from := max(c.pruned, 1)
	// The marker first: a crash before the deletions leaves blocks that are
	// reported pruned, never a gap that is not.
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], below)
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(keyPruned), v[:]) }); err != nil {
		return 0, fmt.Errorf("chain: prune blocks: %w", err)
	}
	c.pruned = below
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	for h := from; h < below; h++ {
		if err := wb.Delete(heightKey(pfxBlock, h)); err != nil {
			return n, fmt.Errorf("chain: prune blocks: %w", err)
		}
		if err := wb.Delete(heightKey(pfxCert, h)); err != nil {
			return n, fmt.Errorf("chain: prune blocks: %w", err)
		}
		n++
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("chain: prune blocks: %w", err)
	}
	return n, nil
}

// PruneBlocksBefore is PruneBlocks by time: it deletes the bodies and
// certificates of the blocks whose time is before tMs (unix ms), so that a
// home keeps a window of days (tMs = head time − the window). The head block
// and the genesis block are always kept. It finds the first block at or after
// tMs by binary search over the kept blocks (block times increase), reading
// O(log n) blocks, and returns how many blocks it deleted.
func (c *Chain) PruneBlocksBefore(tMs int64) (int, error) {
	below, err := c.firstBlockAt(tMs)
	if err != nil {
		return 0, err
	}
	return c.PruneBlocks(below)
}

// firstBlockAt is the lowest kept height >= 1 whose block time is at least
// tMs, or the head's height if every block is older.
func (c *Chain) firstBlockAt(tMs int64) (uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, ErrClosed
	}
	lo, hi := max(c.pruned, 1), c.head.Height
	if c.head.Time < tMs {
		return hi, nil
	}
	var err error
	for lo < hi && err == nil {
		mid := lo + (hi-lo)/2
		var t int64
		err = c.db.View(func(txn *badger.Txn) error {
			bb, err := get(txn, heightKey(pfxBlock, mid))
			if err != nil {
				return err
			}
			b, err := DecodeBlock(bb)
			t = b.Header.Time
			return err
		})
		if t >= tMs {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if err != nil {
		return 0, fmt.Errorf("chain: find block at %d ms: %w", tMs, err)
	}
	return lo, nil
}

// Blocks returns up to max committed blocks from height from on, with their
// certificates (for sync). It returns no blocks if from is above the head.
func (c *Chain) Blocks(from uint64, max int) ([]Block, [][]byte, error) {
	var bs []Block
	var certs [][]byte
	head := c.Head().Height
	for h := from; h <= head && len(bs) < max; h++ {
		b, cert, err := c.Block(h)
		if err != nil {
			return nil, nil, err
		}
		bs = append(bs, b)
		certs = append(certs, cert)
	}
	return bs, certs, nil
}
