package market

import (
	"cmp"
	"math/bits"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/unit"
)

// Trade is a matched quantity between one buy and one sell order.
type Trade struct {
	Slot          unit.Slot
	Buy, Sell     string // order IDs
	Buyer, Seller string // owners
	Energy        unit.Wh
	Price         unit.Price // what the buyer pays per kWh; the seller receives Price − Tariff.Fee
}

// Result is the clearing of one slot.
type Result struct {
	Slot   unit.Slot
	Price  unit.Price // the uniform price; 0 if Volume is 0
	Volume unit.Wh    // total matched energy (sum of Trades' Energy)
	Trades []Trade    // nil if nothing cleared
}

// Clear runs the uniform-price call auction for one slot (rules in the
// package documentation). orders may be in any order and may contain orders
// of other slots, which are ignored, as are malformed orders. The Result is a
// pure function of the set of orders; orders is not modified.
func Clear(slot unit.Slot, orders []Order, t Tariff, p Params) Result {
	return ClearCurves(slot, orders, nil, t, p)
}

// ClearCurves is Clear for a book of single-price orders and price-quantity
// curves together. A curve's steps take part in the auction as if they were
// orders of their own with the curve's ID, Owner and Height (ties between
// steps of one price: step order), and the trades of one (buy, sell) pair of
// IDs are merged into the first of them. IDs must be unique across orders
// and curves; malformed curves (see Tariff.CheckCurve for the rules, without
// the tariff bounds) are ignored.
func ClearCurves(slot unit.Slot, orders []Order, curves []Curve, t Tariff, p Params) Result {
	if t.Validate() != nil {
		return Result{Slot: slot}
	}
	var nb, ns int
	count := func(side Side, n int) {
		if side == Buy {
			nb += n
		} else {
			ns += n
		}
	}
	for i := range orders {
		if o := &orders[i]; o.Slot == slot && o.wellFormed() {
			count(o.Side, 1)
		}
	}
	for i := range curves {
		if c := &curves[i]; c.Slot == slot && c.wellFormed() {
			count(c.Side, len(c.Steps))
		}
	}
	if nb == 0 || ns == 0 {
		return Result{Slot: slot}
	}
	// Sort small pointer-free entries, not the orders themselves.
	all := make([]entry, nb+ns)
	buys, sells := all[:0:nb], all[nb:nb]
	add := func(side Side, e entry) {
		if side == Buy {
			e.key = -e.key
			buys = append(buys, e)
		} else {
			sells = append(sells, e)
		}
	}
	for i := range orders {
		if o := &orders[i]; o.Slot == slot && o.wellFormed() {
			add(o.Side, entry{key: o.Price, height: o.Height, energy: o.Energy, idx: int32(i)})
		}
	}
	for i := range curves {
		if c := &curves[i]; c.Slot == slot && c.wellFormed() {
			for j, st := range c.Steps {
				add(c.Side, entry{key: st.Price, height: c.Height, energy: st.Energy, idx: int32(len(orders) + i), step: int32(j)})
			}
		}
	}
	bk := book{orders: orders, curves: curves}
	slices.SortFunc(buys, bk.compare)
	slices.SortFunc(sells, bk.compare)
	return clearSorted(slot, bk, buys, sells, t.Fee, p.KPPM)
}

// book names the orders and curves that entries point into.
type book struct {
	orders []Order
	curves []Curve
}

// names returns the ID and Owner of an entry.
func (b book) names(e *entry) (id, owner string) {
	if int(e.idx) < len(b.orders) {
		o := &b.orders[e.idx]
		return o.ID, o.Owner
	}
	c := &b.curves[int(e.idx)-len(b.orders)]
	return c.ID, c.Owner
}

// compare is the canonical order of one side's entries: key (price, negated
// for buys), Height, ID, Owner, orders before curves, then energy for orders
// and step index for curves. It is total on the entries' content.
func (b book) compare(x, y entry) int {
	if x.key != y.key {
		return cmp.Compare(x.key, y.key)
	}
	if x.height != y.height {
		return cmp.Compare(x.height, y.height)
	}
	xi, xo := b.names(&x)
	yi, yo := b.names(&y)
	if c := strings.Compare(xi, yi); c != 0 {
		return c
	}
	if c := strings.Compare(xo, yo); c != 0 {
		return c
	}
	xc, yc := int(x.idx) >= len(b.orders), int(y.idx) >= len(b.orders)
	switch {
	case !xc && yc:
		return -1
	case xc && !yc:
		return 1
	case xc:
		return cmp.Compare(x.step, y.step)
	}
	return cmp.Compare(x.energy, y.energy)
}

// entry is one well-formed order of a side in the sort: key is the price for
// sells and the negated price for buys, so both sides sort ascending.
type entry struct {
	key    unit.Price
	height uint64
	energy unit.Wh
	idx    int32 // index into the orders, then the curves
	step   int32 // step of a curve
}

// clearSorted clears canonically sorted entries of one slot's orders.
func clearSorted(slot unit.Slot, bk book, buys, sells []entry, fee unit.Price, k int64) Result {
	res := Result{Slot: slot}
	vol, bid, ask := walk(buys, sells, fee)
	if vol == 0 {
		return res
	}
	res.Volume = vol
	res.Price = kPrice(bid, ask, fee, k)
	fill := make([]unit.Wh, len(buys)+len(sells))
	bfill, sfill := fill[:len(buys)], fill[len(buys):]
	allocate(buys, bfill, vol)
	allocate(sells, sfill, vol)
	res.Trades = pair(slot, res.Price, bk, buys, sells, bfill, sfill)
	return res
}

// walk walks the sorted curves and returns the maximal volume whose every Wh
// has a bid >= ask + fee (capped at MaxVolume), with the marginal bid and ask
// (the prices of the last buy and sell reached).
func walk(buys, sells []entry, fee unit.Price) (vol unit.Wh, bid, ask unit.Price) {
	i, j := 0, 0
	var remB, remS unit.Wh
	if len(buys) > 0 {
		remB = buys[0].energy
	}
	if len(sells) > 0 {
		remS = sells[0].energy
	}
	for i < len(buys) && j < len(sells) && vol < MaxVolume && -buys[i].key >= sells[j].key+fee {
		n := min(remB, remS, MaxVolume-vol)
		vol += n
		bid, ask = -buys[i].key, sells[j].key
		remB -= n
		remS -= n
		if remB == 0 {
			i++
			if i < len(buys) {
				remB = buys[i].energy
			}
		}
		if remS == 0 {
			j++
			if j < len(sells) {
				remS = sells[j].energy
			}
		}
	}
	return vol, bid, ask
}

// kPrice is ask + fee + floor(k × (bid − ask − fee) / 10^6), k clamped to
// [0, 10^6]; bid >= ask + fee.
func kPrice(bid, ask, fee unit.Price, k int64) unit.Price {
	k = min(max(k, 0), PPM)
	gap := int64(bid - ask - fee) // in [0, MaxPrice]
	return ask + fee + unit.Price(gap*k/PPM)
}

// allocate sets fill[i], the fill of side[i], for one sorted side when vol Wh are
// taken from it: better price levels in full, the marginal level pro rata with
// the remainder 1 Wh at a time in canonical order.
func allocate(side []entry, fill []unit.Wh, vol unit.Wh) {
	rem := vol
	for i := 0; i < len(side) && rem > 0; {
		// The level is side[i:j], all at one price.
		j := i
		var level unit.Wh
		for j < len(side) && side[j].key == side[i].key {
			level += side[j].energy
			j++
		}
		if rem >= level {
			for m := i; m < j; m++ {
				fill[m] = side[m].energy
			}
			rem -= level
			i = j
			continue
		}
		// Pro rata: floor(e × rem / level); e × rem < level², quotient < e.
		var given unit.Wh
		for m := i; m < j; m++ {
			hi, lo := bits.Mul64(uint64(side[m].energy), uint64(rem))
			q, _ := bits.Div64(hi, lo, uint64(level))
			fill[m] = unit.Wh(q)
			given += unit.Wh(q)
		}
		for m := i; given < rem; m++ {
			fill[m]++
			given++
		}
		break
	}
}

// pair matches the filled buys and sells in canonical order.
func pair(slot unit.Slot, price unit.Price, bk book, buys, sells []entry, bfill, sfill []unit.Wh) []Trade {
	trades := make([]Trade, 0, len(buys)+len(sells))
	i, j := 0, 0
	var rb, rs unit.Wh
	for {
		for rb == 0 && i < len(buys) {
			rb = bfill[i]
			if rb == 0 {
				i++
			}
		}
		for rs == 0 && j < len(sells) {
			rs = sfill[j]
			if rs == 0 {
				j++
			}
		}
		if i == len(buys) || j == len(sells) {
			break
		}
		n := min(rb, rs)
		bid, bown := bk.names(&buys[i])
		sid, sown := bk.names(&sells[j])
		trades = append(trades, Trade{
			Slot: slot, Buy: bid, Sell: sid, Buyer: bown, Seller: sown,
			Energy: n, Price: price,
		})
		rb -= n
		rs -= n
		if rb == 0 {
			i++
		}
		if rs == 0 {
			j++
		}
	}
	if len(bk.curves) > 0 {
		trades = mergePairs(trades)
	}
	return trades
}

// mergePairs merges the trades of one (buy, sell) pair into the first one.
func mergePairs(trades []Trade) []Trade {
	type pairKey struct{ buy, sell, buyer, seller string }
	first := make(map[pairKey]int, len(trades))
	out := trades[:0]
	for _, tr := range trades {
		k := pairKey{tr.Buy, tr.Sell, tr.Buyer, tr.Seller}
		if i, seen := first[k]; seen {
			out[i].Energy += tr.Energy
			continue
		}
		first[k] = len(out)
		out = append(out, tr)
	}
	return out
}
