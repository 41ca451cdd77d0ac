package market

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/unit"
)

// Book is the continuous double auction of one slot (the optional mode):
// price-time priority, trades at the resting (maker's) price, partial fills
// and cancels. An incoming buy at b matches resting sells, cheapest first and
// oldest first within a price, while b >= ask + fee; an incoming sell at a
// matches resting buys, highest first, while bid >= a + fee. The trade price
// (what the buyer pays) is the maker's: ask + fee when a sell rests, the bid
// when a buy rests; the seller receives price − fee. What does not match rests.
//
// Time priority is the order of Add calls (Order.Height is not used). Order
// IDs must be unique; the book detects duplicates among resting orders only.
// After warm-up, Add, Cancel and Depth allocate nothing as long as the caller
// reuses the dst slices. A Book is not safe for concurrent use.
type Book struct {
	slot  unit.Slot
	t     Tariff
	nodes []node           // resting orders by index; free ones are chained
	free  int32            // head of the free list, -1 if none
	byID  map[string]int32 // resting order index by ID
	bids  []level          // key = price, ascending: the best bid is last
	asks  []level          // key = −price, ascending: the best ask is last
}

// node is a resting order in a level's FIFO.
type node struct {
	o          Order
	rem        unit.Wh
	prev, next int32 // in the level, or next in the free list
}

// level is the FIFO of resting orders at one price.
type level struct {
	key        unit.Price
	head, tail int32
	energy     unit.Wh
	count      int
}

// Level is one price level of a side of the book, as Depth reports it.
type Level struct {
	Price  unit.Price
	Energy unit.Wh // resting energy at this price
	Orders int     // resting orders at this price
}

// NewBook returns an empty book for slot under tariff t.
func NewBook(slot unit.Slot, t Tariff) *Book {
	return &Book{slot: slot, t: t, free: -1, byID: make(map[string]int32)}
}

// Len is the number of resting orders.
func (b *Book) Len() int { return len(b.byID) }

// Add matches o against the book, appends the trades to dst and returns it;
// the unmatched rest of o rests in the book. It fails, with dst unchanged, if
// o is for another slot, fails Tariff.Check, or its ID is resting already.
func (b *Book) Add(dst []Trade, o Order) ([]Trade, error) {
	if o.Slot != b.slot {
		return dst, fmt.Errorf("market: order for %v in the book of %v", o.Slot, b.slot)
	}
	if err := b.t.Check(o); err != nil {
		return dst, err
	}
	if _, dup := b.byID[o.ID]; dup {
		return dst, fmt.Errorf("%w: %q", ErrDuplicate, o.ID)
	}
	rem := o.Energy
	opp := &b.asks
	if o.Side == Sell {
		opp = &b.bids
	}
	for rem > 0 && len(*opp) > 0 {
		lv := &(*opp)[len(*opp)-1]
		var price unit.Price // what the buyer pays
		if o.Side == Buy {
			ask := -lv.key
			if o.Price < ask+b.t.Fee {
				break
			}
			price = ask + b.t.Fee
		} else {
			bid := lv.key
			if bid < o.Price+b.t.Fee {
				break
			}
			price = bid
		}
		for rem > 0 && lv.head >= 0 {
			i := lv.head
			n := &b.nodes[i]
			q := min(rem, n.rem)
			tr := Trade{Slot: b.slot, Energy: q, Price: price}
			if o.Side == Buy {
				tr.Buy, tr.Buyer, tr.Sell, tr.Seller = o.ID, o.Owner, n.o.ID, n.o.Owner
			} else {
				tr.Buy, tr.Buyer, tr.Sell, tr.Seller = n.o.ID, n.o.Owner, o.ID, o.Owner
			}
			dst = append(dst, tr)
			rem -= q
			n.rem -= q
			lv.energy -= q
			if n.rem == 0 {
				b.unlink(lv, i)
			}
		}
		if lv.head < 0 {
			*opp = (*opp)[:len(*opp)-1]
		}
	}
	if rem > 0 {
		b.rest(o, rem)
	}
	return dst, nil
}

// rest puts the rest of o at the back of its price level.
func (b *Book) rest(o Order, rem unit.Wh) {
	var i int32
	if b.free >= 0 {
		i = b.free
		b.free = b.nodes[i].next
	} else {
		i = int32(len(b.nodes))
		b.nodes = append(b.nodes, node{})
	}
	b.nodes[i] = node{o: o, rem: rem, prev: -1, next: -1}
	b.byID[o.ID] = i
	side, key := b.side(o)
	j, found := slices.BinarySearchFunc(*side, key, cmpLevel)
	if !found {
		*side = slices.Insert(*side, j, level{key: key, head: -1, tail: -1})
	}
	lv := &(*side)[j]
	if lv.tail >= 0 {
		b.nodes[lv.tail].next = i
		b.nodes[i].prev = lv.tail
	} else {
		lv.head = i
	}
	lv.tail = i
	lv.energy += rem
	lv.count++
}

// Cancel removes the resting order with the given ID and returns its
// unfilled energy; ok is false if no such order rests.
func (b *Book) Cancel(id string) (rem unit.Wh, ok bool) {
	i, ok := b.byID[id]
	if !ok {
		return 0, false
	}
	n := &b.nodes[i]
	rem = n.rem
	side, key := b.side(n.o)
	j, found := slices.BinarySearchFunc(*side, key, cmpLevel)
	if !found { // every resting order has its level: never taken
		panic("market: book level missing")
	}
	lv := &(*side)[j]
	lv.energy -= rem
	b.unlink(lv, i)
	if lv.head < 0 {
		*side = slices.Delete(*side, j, j+1)
	}
	return rem, true
}

// Replace cancels the resting order id and adds o in its place (o may carry
// the same ID); o loses the time priority of the order it replaces. If id is
// not resting, nothing is added and ok is false.
func (b *Book) Replace(dst []Trade, id string, o Order) (trades []Trade, ok bool, err error) {
	if _, ok := b.byID[id]; !ok {
		return dst, false, nil
	}
	if o.Slot != b.slot {
		return dst, true, fmt.Errorf("market: order for %v in the book of %v", o.Slot, b.slot)
	}
	if err := b.t.Check(o); err != nil {
		return dst, true, err
	}
	if _, dup := b.byID[o.ID]; dup && o.ID != id {
		return dst, true, fmt.Errorf("%w: %q", ErrDuplicate, o.ID)
	}
	b.Cancel(id)
	dst, err = b.Add(dst, o)
	return dst, true, err
}

// unlink removes node i from level lv and frees it.
func (b *Book) unlink(lv *level, i int32) {
	n := &b.nodes[i]
	if n.prev >= 0 {
		b.nodes[n.prev].next = n.next
	} else {
		lv.head = n.next
	}
	if n.next >= 0 {
		b.nodes[n.next].prev = n.prev
	} else {
		lv.tail = n.prev
	}
	lv.count--
	delete(b.byID, n.o.ID)
	*n = node{next: b.free}
	b.free = i
}

// side returns o's side of the book and o's level key there.
func (b *Book) side(o Order) (*[]level, unit.Price) {
	if o.Side == Buy {
		return &b.bids, o.Price
	}
	return &b.asks, -o.Price
}

func cmpLevel(l level, key unit.Price) int { return cmp.Compare(l.key, key) }

// Depth appends up to n price levels of one side to dst, best first (highest
// bid, lowest ask), and returns it; n <= 0 means all levels.
func (b *Book) Depth(dst []Level, side Side, n int) []Level {
	levels, sign := b.asks, unit.Price(-1)
	if side == Buy {
		levels, sign = b.bids, 1
	}
	for j := len(levels) - 1; j >= 0 && (n <= 0 || len(levels)-1-j < n); j-- {
		lv := &levels[j]
		dst = append(dst, Level{Price: sign * lv.key, Energy: lv.energy, Orders: lv.count})
	}
	return dst
}
