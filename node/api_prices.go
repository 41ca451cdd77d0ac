package node

import (
	"sync"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/unit"
)

// slotPrices remembers the clearing price (market.Result.Price) of recent
// slots for statement lines: the chain's account index (chain.Statement)
// gives an account's lines by range without reading each slot's records, but
// not the slot's price, and reading a cleared record from the store costs
// about as much as the settlement walk it replaces (a JSON decode and a
// round-trip check per slot).
//
// It is a fixed ring of priceSlots entries indexed by slot, so its memory
// (about 640 KB) does not grow with the chain's age: the loop fills it from
// the SlotCleared events of the blocks it commits (apiCommit), and a
// statement fills in, from chain.Result, the prices of its lines that it
// does not hold yet (slots cleared before the node started, or evicted by
// newer ones). Its zero value is ready; it is safe for concurrent use.
type slotPrices struct {
	mu    sync.Mutex
	slot  []unit.Slot // slot+1 of each entry; 0 = empty
	price []unit.Price
}

// priceSlots covers the longest range a statement may span (maxSlotRange).
const priceSlots = maxSlotRange

func (p *slotPrices) init() {
	if p.slot == nil {
		p.slot, p.price = make([]unit.Slot, priceSlots), make([]unit.Price, priceSlots)
	}
}

func (p *slotPrices) put(s unit.Slot, price unit.Price) {
	if s < 0 {
		return
	}
	p.mu.Lock()
	p.init()
	i := int(s % priceSlots)
	p.slot[i], p.price[i] = s+1, price
	p.mu.Unlock()
}

// fill sets prices[i] to the price of lines[i]'s slot, reading the slots it
// does not hold from the chain; the caller holds n.mu.
func (p *slotPrices) fill(c *chain.Chain, lines []chain.StatementLine, prices []unit.Price) {
	var missing []int
	p.mu.Lock()
	p.init()
	for i, l := range lines {
		j := int(l.Slot % priceSlots)
		if l.Slot >= 0 && p.slot[j] == l.Slot+1 {
			prices[i] = p.price[j]
		} else {
			missing = append(missing, i)
		}
	}
	p.mu.Unlock()
	for _, i := range missing {
		res, _ := c.Result(lines[i].Slot)
		prices[i] = res.Price
		p.put(lines[i].Slot, res.Price)
	}
}

// commit records the prices of the slots events cleared.
func (p *slotPrices) commit(events []chain.Event) {
	for _, e := range events {
		if c, ok := e.(chain.SlotCleared); ok {
			p.put(c.Slot, c.Result.Price)
		}
	}
}
