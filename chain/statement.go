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
}

// Statement returns account a's lines for the settled slots in [from, to), in
// slot order, leaving out slots it took no part in. The sum of Net over all
// slots is the account's balance. It reads the account index by range, so it
// costs what it returns, not the chain's age. On a closed chain, or if the
// store cannot be read, it returns nil.
func (c *Chain) Statement(a ident.Account, from, to unit.Slot) []StatementLine {
	out, _ := c.statement(a, from, to)
	return out
}

func (c *Chain) statement(a ident.Account, from, to unit.Slot) ([]StatementLine, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	if from >= to {
		return nil, nil
	}
	var out []StatementLine
	err := c.db.View(func(txn *badger.Txn) error {
		pfx := append(append([]byte(pfxAccount), a...), '/')
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		end := accountKey(a, to)
		for it.Seek(accountKey(a, from)); it.Valid(); it.Next() {
			k := it.Item().Key()
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
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			l, err := decodeLine(sl, v)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chain: statement of %s: %w", a, err)
	}
	return out, nil
}
