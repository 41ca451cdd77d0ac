package chain

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// History in the store.
//
// Cleared and settled records are state entries (c/<slot>, d/<slot>), written
// with the block that made them, and read back from the store once memory no
// longer holds them (history, storeHist). Beside the state, outside the state
// hash, the store keeps an account index: under
//
//	A/<account>/<8-byte slot key>   that account's statement line of the settled slot
//
// one entry per account that took part in the slot (StatementLine's rule),
// carrying the slot's clearing price from its cleared record (c/<slot>) so
// that a statement reads nothing but the index, and
// under keyIndex a record of the index's version and the height it is complete
// up to. Commit writes a block's lines and that record in the block's badger
// transaction, so index and head agree. The index is derived data: Open
// rebuilds it from the settled and cleared records (d/<slot>, c/<slot>) when
// the record is missing (a data directory written before the index existed),
// has another version (version 1 lines had no price), or names another height
// than the head (blocks committed by a binary that did not write it).

const (
	keyIndex     = "i"  // indexRec JSON
	pfxAccount   = "A/" // + account + "/" + 8-byte slot key: statement line
	indexVersion = 2    // 1: lines without the price
)

type indexRec struct {
	Version int    `json:"version"`
	Height  uint64 `json:"height"`
}

// storeHist reads committed state entries from badger (history's source).
type storeHist struct{ db *badger.DB }

func (h storeHist) record(k string) ([]byte, bool, error) {
	var v []byte
	err := h.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(pfxState + k))
		if err != nil {
			return err
		}
		v, err = valueOf(item)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) || (err == nil && isStub(k, v)) {
		return nil, false, nil // a pruned record (prune.go) is not there either
	}
	return v, err == nil, err
}

// scan passes stubs of pruned records (prune.go) as they are stored.
func (h storeHist) scan(prefix string, fn func(k string, v []byte) error) error {
	return h.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxState + prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := valueOf(it.Item())
			if err != nil {
				return err
			}
			if err := fn(string(it.Item().Key()[len(pfxState):]), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func slotKeyBytes(sl unit.Slot) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(sl)^(1<<63))
	return b[:]
}

func accountKey(a ident.Account, sl unit.Slot) []byte {
	k := make([]byte, 0, len(pfxAccount)+len(a)+1+8)
	k = append(k, pfxAccount...)
	k = append(k, a...)
	k = append(k, '/')
	return append(k, slotKeyBytes(sl)...)
}

// lineOf is account a's statement line for settlement st, and whether a took
// part in it (bought, sold or had a transfer). op is the operator, whose line
// also counts every trade's fee; price is the slot's clearing price.
func lineOf(st market.Settlement, price unit.Price, a, op ident.Account) (StatementLine, bool) {
	l := StatementLine{Slot: st.Slot, Price: price}
	involved := false
	for _, tr := range st.Trades {
		if tr.Buyer == string(a) {
			l.Bought += tr.Settled
			l.Paid += tr.Paid
			involved = true
		}
		if tr.Seller == string(a) {
			l.Sold += tr.Settled
			l.Received += tr.Received
			involved = true
		}
		if a == op {
			l.Fees += tr.Fee
		}
	}
	for _, t := range st.Transfers {
		if t.Account == string(a) {
			l.Net = t.Amount
			involved = true
		}
	}
	return l, involved
}

// linesOf is every account's statement line for settlement st of slot sl,
// which cleared at price. Only buyers, sellers and transfer recipients can
// take part.
func linesOf(sl unit.Slot, st market.Settlement, price unit.Price, op ident.Account) map[ident.Account]StatementLine {
	out := map[ident.Account]StatementLine{}
	add := func(a ident.Account) {
		if _, ok := out[a]; ok {
			return
		}
		if l, ok := lineOf(st, price, a, op); ok {
			l.Slot = sl
			out[a] = l
		}
	}
	for _, tr := range st.Trades {
		add(ident.Account(tr.Buyer))
		add(ident.Account(tr.Seller))
	}
	for _, t := range st.Transfers {
		add(ident.Account(t.Account))
	}
	return out
}

// encodeLine is a statement line's index value: Bought, Sold, Paid,
// Received, Fees, Net and Price as signed varints (the slot is in the key).
// Version 1 of the index had the first six only.
func encodeLine(l StatementLine) []byte {
	b := make([]byte, 0, 7*binary.MaxVarintLen64)
	for _, v := range [...]int64{int64(l.Bought), int64(l.Sold), int64(l.Paid), int64(l.Received), int64(l.Fees), int64(l.Net), int64(l.Price)} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func decodeLine(sl unit.Slot, b []byte) (StatementLine, error) {
	var v [7]int64
	for i := range v {
		x, n := binary.Varint(b)
		if n <= 0 {
			return StatementLine{}, fmt.Errorf("statement line of slot %d: bad varint", sl)
		}
		v[i], b = x, b[n:]
	}
	if len(b) != 0 {
		return StatementLine{}, fmt.Errorf("statement line of slot %d: trailing data", sl)
	}
	return StatementLine{Slot: sl, Bought: unit.Wh(v[0]), Sold: unit.Wh(v[1]), Paid: unit.Money(v[2]),
		Received: unit.Money(v[3]), Fees: unit.Money(v[4]), Net: unit.Money(v[5]), Price: unit.Price(v[6])}, nil
}

// setter is what badger.Txn and badger.WriteBatch share.
type setter interface{ Set(k, v []byte) error }

// writeLines writes the account index entries of settlement st of slot sl,
// which cleared at price.
func writeLines(w setter, sl unit.Slot, st market.Settlement, price unit.Price, op ident.Account) error {
	for a, l := range linesOf(sl, st, price, op) {
		if err := w.Set(accountKey(a, sl), encodeLine(l)); err != nil {
			return err
		}
	}
	return nil
}

func indexRecord(height uint64) []byte {
	return recordJSON(indexRec{Version: indexVersion, Height: height})
}

// checkIndex rebuilds the account index unless its record says it is
// complete up to the head.
func (c *Chain) checkIndex() error {
	var rec indexRec
	err := c.db.View(func(txn *badger.Txn) error {
		b, err := get(txn, []byte(keyIndex))
		if err != nil {
			return err
		}
		return strictDecode(b, &rec)
	})
	if err == nil && rec.Version == indexVersion && rec.Height == c.head.Height {
		return nil
	}
	return c.rebuildIndex()
}

// rebuildIndex deletes the account index and writes it again from every
// settled record in the store (and its slot's cleared record, for the price),
// then its record. Its memory does not grow with
// the chain's age (one settlement at a time, written in batches). The lines
// of slots whose records a home pruned (below keyHistPruned, prune.go) stay
// as they are: they cannot be derived again.
func (c *Chain) rebuildIndex() error {
	kept, err := c.histPrunedBelow()
	if err != nil {
		return err
	}
	del := c.db.NewWriteBatch()
	defer del.Cancel()
	err = c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pfxAccount)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if sl, err := lineSlot(it.Item().Key()); err != nil || sl < kept {
				continue
			}
			if err := del.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = del.Flush()
	}
	if err != nil {
		return fmt.Errorf("chain: rebuild account index: %w", err)
	}
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	// A slot settles after it cleared, so its cleared record is there (a
	// slot without one has no price, as Result then says).
	storedPrice := func(sl unit.Slot) (unit.Price, error) {
		v, ok, err := storeHist{c.db}.record("c/" + slotKey(sl))
		if err != nil || !ok {
			return 0, err
		}
		var r clearedRec
		if err := strictDecode(v, &r); err != nil {
			return 0, fmt.Errorf("state entry c/%s: %w", slotKey(sl), err)
		}
		return r.Result.Price, nil
	}
	err = storeHist{c.db}.scan("d/", func(k string, v []byte) error {
		sl, err := parseSlotKey(k[2:])
		if err != nil {
			return err
		}
		if isStub(k, v) {
			return nil // its lines stayed
		}
		var st market.Settlement
		if err := strictDecode(v, &st); err != nil {
			return fmt.Errorf("state entry %q: %w", k, err)
		}
		price, err := storedPrice(sl)
		if err != nil {
			return err
		}
		return writeLines(wb, sl, st, price, c.g.Operator)
	})
	if err == nil {
		err = wb.Set([]byte(keyIndex), indexRecord(c.head.Height))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = c.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("chain: rebuild account index: %w", err)
	}
	return nil
}

func parseSlotKeyBytes(b []byte) (unit.Slot, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("slot key %x", b)
	}
	return unit.Slot(binary.BigEndian.Uint64(b) ^ (1 << 63)), nil
}
