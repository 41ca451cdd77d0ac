package market

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/unit"
)

// ErrDuplicate is returned when an order ID is already in a book.
var ErrDuplicate = errors.New("market: duplicate order id")

// Indicative is the indicative clearing of one open slot: it keeps the slot's
// orders in canonical order as they arrive and leave, so that the price and
// volume that would clear now (Now) cost one walk of the crossing part of the
// curves aggregated by price level, and the full Result costs no sort. Its
// Result is always exactly Clear(slot, orders, tariff, params) for the orders
// it holds.
//
// An Indicative is not safe for concurrent use.
type Indicative struct {
	slot   unit.Slot
	t      Tariff
	p      Params
	orders []Order        // by index; freed slots are reused
	free   []int          // free indices of orders
	byID   map[string]int // order index by ID
	buys   []entry        // canonical order
	sells  []entry        // canonical order
	blev   []entry        // buy price levels: key and total energy, ascending key
	slev   []entry        // sell price levels
	dirty  bool           // price and volume must be recomputed
	price  unit.Price     // cache
	volume unit.Wh        // cache
}

// NewIndicative returns an empty indicative clearing for slot.
func NewIndicative(slot unit.Slot, t Tariff, p Params) *Indicative {
	return &Indicative{slot: slot, t: t, p: p, byID: make(map[string]int)}
}

// Len is the number of orders held.
func (x *Indicative) Len() int { return len(x.byID) }

// Add adds an order. It fails if the order is for another slot, fails
// Tariff.Check, or its ID is already held (ErrDuplicate).
func (x *Indicative) Add(o Order) error {
	if o.Slot != x.slot {
		return fmt.Errorf("market: order for %v in the book of %v", o.Slot, x.slot)
	}
	if err := x.t.Check(o); err != nil {
		return err
	}
	if _, dup := x.byID[o.ID]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicate, o.ID)
	}
	var idx int
	if n := len(x.free); n > 0 {
		idx = x.free[n-1]
		x.free = x.free[:n-1]
		x.orders[idx] = o
	} else {
		idx = len(x.orders)
		x.orders = append(x.orders, o)
	}
	x.byID[o.ID] = idx
	e := entry{key: o.Price, height: o.Height, energy: o.Energy, idx: int32(idx)}
	side := &x.sells
	if o.Side == Buy {
		e.key = -e.key
		side = &x.buys
	}
	bk := book{orders: x.orders}
	i, _ := slices.BinarySearchFunc(*side, e, bk.compare)
	*side = slices.Insert(*side, i, e)
	x.level(o.Side, e.key, e.energy)
	x.dirty = true
	return nil
}

// Remove removes the order with the given ID and reports whether it was held.
func (x *Indicative) Remove(id string) bool {
	idx, ok := x.byID[id]
	if !ok {
		return false
	}
	o := &x.orders[idx]
	e := entry{key: o.Price, height: o.Height, energy: o.Energy, idx: int32(idx)}
	side := &x.sells
	if o.Side == Buy {
		e.key = -e.key
		side = &x.buys
	}
	bk := book{orders: x.orders}
	i, found := slices.BinarySearchFunc(*side, e, bk.compare)
	if !found || int((*side)[i].idx) != idx { // the canonical order is total: never taken
		panic("market: indicative book out of order")
	}
	*side = slices.Delete(*side, i, i+1)
	x.level(o.Side, e.key, -e.energy)
	delete(x.byID, id)
	x.orders[idx] = Order{}
	x.free = append(x.free, idx)
	x.dirty = true
	return true
}

// level adds energy (negative: removes it) to the price level key of a side.
func (x *Indicative) level(side Side, key unit.Price, energy unit.Wh) {
	lev := &x.slev
	if side == Buy {
		lev = &x.blev
	}
	i, found := slices.BinarySearchFunc(*lev, key, func(e entry, k unit.Price) int { return cmp.Compare(e.key, k) })
	switch {
	case !found:
		*lev = slices.Insert(*lev, i, entry{key: key, energy: energy})
	case (*lev)[i].energy+energy == 0:
		*lev = slices.Delete(*lev, i, i+1)
	default:
		(*lev)[i].energy += energy
	}
}

// Now returns the price and volume that would clear if the gate closed now
// (0, 0 if nothing crosses). It allocates nothing.
func (x *Indicative) Now() (price unit.Price, volume unit.Wh) {
	if x.dirty {
		x.price, x.volume = 0, 0
		if x.t.Validate() == nil {
			vol, bid, ask := walk(x.blev, x.slev, x.t.Fee)
			if vol > 0 {
				x.price, x.volume = kPrice(bid, ask, x.t.Fee, x.p.KPPM), vol
			}
		}
		x.dirty = false
	}
	return x.price, x.volume
}

// Result returns the full clearing of the orders held, identical to Clear.
func (x *Indicative) Result() Result {
	if x.t.Validate() != nil || len(x.buys) == 0 || len(x.sells) == 0 {
		return Result{Slot: x.slot}
	}
	return clearSorted(x.slot, book{orders: x.orders}, x.buys, x.sells, x.t.Fee, x.p.KPPM)
}

// Orders returns the orders held, in canonical order: buys, then sells.
func (x *Indicative) Orders() []Order {
	out := make([]Order, 0, len(x.byID))
	for _, e := range x.buys {
		out = append(out, x.orders[e.idx])
	}
	for _, e := range x.sells {
		out = append(out, x.orders[e.idx])
	}
	return out
}
