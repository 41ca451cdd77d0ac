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
	if t.Validate() != nil {
		return Result{Slot: slot}
	}
	var nb, ns int
	for i := range orders {
		o := &orders[i]
		if o.Slot != slot || !o.wellFormed() {
			continue
		}
		if o.Side == Buy {
			nb++
		} else {
			ns++
		}
	}
	if nb == 0 || ns == 0 {
		return Result{Slot: slot}
	}
	// Sort small pointer-free entries, not the orders themselves.
	all := make([]entry, nb+ns)
	buys, sells := all[:0:nb], all[nb:nb]
	for i := range orders {
		o := &orders[i]
		if o.Slot != slot || !o.wellFormed() {
			continue
		}
		if o.Side == Buy {
			buys = append(buys, entry{key: -o.Price, height: o.Height, energy: o.Energy, idx: i})
		} else {
			sells = append(sells, entry{key: o.Price, height: o.Height, energy: o.Energy, idx: i})
		}
	}
	cmpEntries := func(a, b entry) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		if a.height != b.height {
			return cmp.Compare(a.height, b.height)
		}
		return tieBreak(&orders[a.idx], &orders[b.idx])
	}
	slices.SortFunc(buys, cmpEntries)
	slices.SortFunc(sells, cmpEntries)
	return clearSorted(slot, orders, buys, sells, t.Fee, p.KPPM)
}

// entry is one well-formed order of a side in the sort: key is the price for
// sells and the negated price for buys, so both sides sort ascending.
type entry struct {
	key    unit.Price
	height uint64
	energy unit.Wh
	fill   unit.Wh
	idx    int // index into the orders slice
}

// clearSorted clears canonically sorted entries of one slot's orders.
func clearSorted(slot unit.Slot, orders []Order, buys, sells []entry, fee unit.Price, k int64) Result {
	res := Result{Slot: slot}
	vol, bid, ask := walk(buys, sells, fee)
	if vol == 0 {
		return res
	}
	res.Volume = vol
	res.Price = kPrice(bid, ask, fee, k)
	allocate(buys, vol)
	allocate(sells, vol)
	res.Trades = pair(slot, res.Price, orders, buys, sells)
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

// allocate sets the fill of each entry of one sorted side when vol Wh are
// taken from it: better price levels in full, the marginal level pro rata with
// the remainder 1 Wh at a time in canonical order.
func allocate(side []entry, vol unit.Wh) {
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
				side[m].fill = side[m].energy
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
			side[m].fill = unit.Wh(q)
			given += unit.Wh(q)
		}
		for m := i; given < rem; m++ {
			side[m].fill++
			given++
		}
		break
	}
}

// pair matches the filled buys and sells in canonical order.
func pair(slot unit.Slot, price unit.Price, orders []Order, buys, sells []entry) []Trade {
	trades := make([]Trade, 0, len(buys)+len(sells))
	i, j := 0, 0
	var rb, rs unit.Wh
	for {
		for rb == 0 && i < len(buys) {
			rb = buys[i].fill
			if rb == 0 {
				i++
			}
		}
		for rs == 0 && j < len(sells) {
			rs = sells[j].fill
			if rs == 0 {
				j++
			}
		}
		if i == len(buys) || j == len(sells) {
			break
		}
		n := min(rb, rs)
		b, s := &orders[buys[i].idx], &orders[sells[j].idx]
		trades = append(trades, Trade{
			Slot: slot, Buy: b.ID, Sell: s.ID, Buyer: b.Owner, Seller: s.Owner,
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
	return trades
}

// compareBuys orders buys canonically: price descending, then tieBreak.
func compareBuys(a, b Order) int {
	if c := cmp.Compare(b.Price, a.Price); c != 0 {
		return c
	}
	return tieBreak(&a, &b)
}

// compareSells orders sells canonically: price ascending, then tieBreak.
func compareSells(a, b Order) int {
	if c := cmp.Compare(a.Price, b.Price); c != 0 {
		return c
	}
	return tieBreak(&a, &b)
}

// tieBreak is Height ascending, then ID, Owner, Energy: a total order over the
// remaining fields of orders of one side and slot.
func tieBreak(a, b *Order) int {
	if c := cmp.Compare(a.Height, b.Height); c != 0 {
		return c
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Owner, b.Owner); c != 0 {
		return c
	}
	return cmp.Compare(a.Energy, b.Energy)
}
