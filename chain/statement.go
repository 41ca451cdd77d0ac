package chain

import (
	"bytes"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// StatementLine is one account's part in one settled slot, for billing.
type StatementLine struct {
	Slot     unit.Slot
	Bought   unit.Wh    // settled energy bought
	Sold     unit.Wh    // settled energy sold
	Paid     unit.Money // as buyer
	Received unit.Money // as seller (price − fee)
	Fees     unit.Money // received as the operator
	Net      unit.Money // the account's balance change in this slot
	Price    unit.Price // the slot's clearing price (market.Result.Price)
}

// Statement returns account a's lines for the settled slots in [from, to), in
// slot order, leaving out slots it took no part in. The sum of Net over all
// slots is the account's balance. It reads the account index by range, so it
// costs what it returns, not the chain's age. On a closed chain, or if the
// store cannot be read, it returns nil.
func (c *Chain) Statement(a ident.Account, from, to unit.Slot) []StatementLine {
	out, _ := c.AppendStatement(nil, a, from, to)
	return out
}

// AppendStatement appends Statement(a, from, to) to dst and returns the
// extended slice, or dst and the error if the chain is closed or the store
// cannot be read. It allocates only to grow dst.
func (c *Chain) AppendStatement(dst []StatementLine, a ident.Account, from, to unit.Slot) ([]StatementLine, error) {
	n := len(dst)
	err := c.eachLine(a, from, to, func(l StatementLine) { dst = append(dst, l) })
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// StatementSum returns the sums of the fields of Statement(a, from, to)'s
// lines, with Slot the number of lines and Price 0, without keeping them.
func (c *Chain) StatementSum(a ident.Account, from, to unit.Slot) (StatementLine, error) {
	var t StatementLine
	err := c.eachLine(a, from, to, func(l StatementLine) {
		t.Slot++
		t.Bought += l.Bought
		t.Sold += l.Sold
		t.Paid += l.Paid
		t.Received += l.Received
		t.Fees += l.Fees
		t.Net += l.Net
	})
	if err != nil {
		return StatementLine{}, err
	}
	return t, nil
}

// eachLine calls fn with a's index lines of [from, to) in slot order, under
// c.mu and in one badger read transaction.
func (c *Chain) eachLine(a ident.Account, from, to unit.Slot, fn func(StatementLine)) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	if from >= to {
		return nil
	}
	err := c.db.View(func(txn *badger.Txn) error {
		pfx := append(append([]byte(pfxAccount), a...), '/')
		// No prefetch: a line is a few bytes, read in place by Value.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: false})
		defer it.Close()
		end := accountKey(a, to)
		for it.Seek(accountKey(a, from)); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if bytes.Compare(k, end) >= 0 {
				break
			}
			if len(k) != len(pfx)+8 {
				return fmt.Errorf("account index key %q", k)
			}
			sl, err := parseSlotKeyBytes(k[len(pfx):])
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				l, err := decodeLine(sl, v)
				if err == nil {
					fn(l)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chain: statement of %s: %w", a, err)
	}
	return nil
}
