package chain

import (
	"fmt"

	"github.com/gridmesh/gridmesh/unit"
)

// The order lifecycle rules (chain/doc.go, State machine): an order may
// expire, and it may replace the sender's open order of the same slot.
//
// Replacing is a field of the order (Order.Replaces), not a transaction kind
// of its own: a replacement is a whole new order (side, energy, price), and
// its one check is that the order it names is the sender's, for the same
// slot, and still open. Marking the old order cancelled by the new one (its
// CancelTx) reuses the state's existing order record, so the state encoding
// does not change and pruning removes both with the slot.

// checkLifecycle checks an order's expiry and, for a replacement, the order it
// replaces, at the block of x. It returns the id of the order replaced ("" for
// none); it writes nothing.
func (s *state) checkLifecycle(x *txContext) (replaced string, err error) {
	o := x.tx.Order
	if o.Expires != 0 && x.height > o.Expires {
		return "", fmt.Errorf("%w: valid until height %d, block %d", ErrExpired, o.Expires, x.height)
	}
	if o.Replaces == nil {
		return "", nil
	}
	id := *o.Replaces
	r, ok := s.txs.get(id)
	if !ok || r.Kind != TxOrder {
		return "", fmt.Errorf("%w: replaces %s", ErrNoOrder, id)
	}
	if r.Slot != o.Slot {
		return "", fmt.Errorf("%w: replaces an order of %s, this one is for %s", ErrReplaceSlot, r.Slot, o.Slot)
	}
	ss, ok := s.slots.get(r.Slot)
	if !ok {
		return "", fmt.Errorf("%w: replaces %s", ErrNoOrder, id)
	}
	or, ok := ss.orders.get(id.String())
	if !ok {
		return "", fmt.Errorf("%w: replaces %s", ErrNoOrder, id)
	}
	if or.Order.Owner != string(x.tx.From) {
		return "", fmt.Errorf("%w: replaces %s", ErrNotOwner, id)
	}
	if or.Cancelled {
		return "", fmt.Errorf("%w: %s", ErrReplaced, id)
	}
	return id.String(), nil
}

// replace marks the order id of slot sl as cancelled by the replacing order's
// tx (x.h).
func (s *state) replace(x *txContext, sl unit.Slot, id string) {
	ss := s.slot(sl)
	or, _ := ss.orders.get(id)
	h := x.h
	or.Cancelled = true
	or.CancelTx = &h
	ss.orders.set(id, or)
}
