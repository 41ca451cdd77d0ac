package node

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Limits of the local book (node/doc.go, The live book). A home updates its
// order a few times per slot, and a replace removes the order it replaces,
// so an honest owner holds one or two orders per slot; the slot bound keeps
// a flood of admitted but misbehaving owners from growing the book.
const (
	bookOwnerOrders = 4      // orders one owner may hold in one slot
	bookSlotOrders  = 10_000 // orders one slot may hold
	bookGateChecks  = 8      // recent gate closures kept for the status
)

// OpenSlot is one open slot of the local book in the status: what would
// clear if the gate closed now, over the orders this node holds (its chain's
// and the pending ones it heard), and the home's own order.
type OpenSlot struct {
	Slot             unit.Slot  `json:"slot"`
	IndicativePrice  unit.Price `json:"indicative_price"`     // 0 if nothing crosses
	IndicativeVolume unit.Wh    `json:"indicative_volume_wh"` // 0 if nothing crosses
	Orders           int        `json:"orders"`               // orders held, confirmed or pending
	Confirmed        int        `json:"confirmed"`            // of which in a committed block
	MyOrder          *MyOrder   `json:"my_order,omitempty"`   // the home's current order; nil if none
}

// MyOrder is the home's current order for a slot: what it stands at now and
// how often the agent re-priced it (market.Quote's ramp, [trading] max_replaces).
type MyOrder struct {
	ID        string     `json:"id"`
	Side      string     `json:"side"`
	Energy    unit.Wh    `json:"energy"`
	Price     unit.Price `json:"price"`
	Replaced  int        `json:"replaced"`  // replaces sent for this slot
	Confirmed bool       `json:"confirmed"` // in a committed block
}

// GateCheck compares, for a recently closed slot, the indicative price and
// volume this node showed when the gate closed (by its clock, or when the
// clearing block came first) with what the chain cleared.
type GateCheck struct {
	Slot             unit.Slot  `json:"slot"`
	IndicativePrice  unit.Price `json:"indicative_price"`
	IndicativeVolume unit.Wh    `json:"indicative_volume_wh"`
	Orders           int        `json:"orders"` // orders held at gate closure
	// SameOrders: the orders held at gate closure were exactly those the
	// chain cleared (no order reached the chain that this node had not
	// heard, none it held missed the gate). Then the prices must agree.
	SameOrders    bool       `json:"same_orders"`
	Cleared       bool       `json:"cleared"`
	ClearedPrice  unit.Price `json:"cleared_price"`
	ClearedVolume unit.Wh    `json:"cleared_volume_wh"`

	digest [32]byte // of the orders held at gate closure
}

// localBook is the node's live book of the open slots (DESIGN.md, The
// market): per slot whose gate has not closed, the orders its chain holds
// merged with the pending ones it heard (its mempool and the orders topic),
// each slot in a market.Indicative, so that the indicative price and volume
// follow every order. It is owned by the loop and not safe for concurrent use.
type localBook struct {
	g     *chain.Genesis
	t     market.Tariff
	slots map[unit.Slot]*bookSlot
	slot  map[string]unit.Slot // the slot of every order held, by id
	gates []GateCheck          // the last bookGateChecks gate closures, oldest first
	drops int64                // orders refused for the limits
}

type bookSlot struct {
	ind    *market.Indicative
	held   map[string]heldOrder
	owners map[string]int // orders held per owner
	// withdrawn holds the ids of orders a pending replacement or cancel
	// withdrew: the chain lists them until a block holds the withdrawal, and
	// the book must not count them again meanwhile.
	withdrawn map[string]bool
}

type heldOrder struct {
	owner     string
	confirmed bool // in a committed block
}

func newLocalBook(g *chain.Genesis, t market.Tariff) *localBook {
	return &localBook{g: g, t: t, slots: make(map[unit.Slot]*bookSlot), slot: make(map[string]unit.Slot)}
}

// pending takes a transaction this node accepted (CheckTx passed) but no
// block holds yet: an order is added (a replacement removes the order it
// replaces), a cancel removes its order. Orders for slots whose gate closed
// at nowMs are ignored.
func (b *localBook) pending(tx chain.Tx, nowMs int64) {
	switch tx.Kind {
	case chain.TxOrder:
		o := tx.Order
		if nowMs >= b.g.GateClosure(o.Slot) {
			return
		}
		if o.Replaces != nil {
			b.withdraw(o.Slot, o.Replaces.String())
		}
		id := tx.Hash().String()
		if len(o.Curve) == 0 {
			b.add(market.Order{ID: id, Owner: string(tx.From), Side: o.Side, Slot: o.Slot, Energy: o.Energy, Price: o.Price}, false)
			return
		}
		for k, st := range o.Curve {
			b.add(market.Order{ID: stepID(id, k), Owner: string(tx.From), Side: o.Side, Slot: o.Slot, Energy: st.Energy, Price: st.Price}, false)
		}
	case chain.TxCancel:
		id := tx.Cancel.Order.String()
		if s, ok := b.slot[id]; ok {
			b.withdraw(s, id)
		}
	}
}

// withdraw removes order id of slot s (all its steps, for a curve order)
// and keeps it out until the slot closes.
func (b *localBook) withdraw(s unit.Slot, id string) {
	bs := b.slotOf(s)
	for k := range chain.MaxCurveSteps {
		sid := stepID(id, k)
		if k > 0 {
			if _, held := b.slot[sid]; !held {
				continue
			}
		}
		b.remove(sid)
		bs.withdrawn[sid] = true
	}
}

// A curve order is held as one order per step (market.ClearCurves clears
// each step like an order, so the indicative price and volume, which depend
// only on the price levels, are the clearing's): step 0 under the order's
// id, step k under stepID(id, k). Only step 0 counts toward the per-owner
// limit.

// stepID is the book's id of step k of curve order id.
func stepID(id string, k int) string {
	if k == 0 {
		return id
	}
	return fmt.Sprintf("%s/%02d", id, k)
}

// isStep reports whether a book id is a later step of a curve order (tx
// hashes are hex, without '/').
func isStep(id string) bool { return strings.IndexByte(id, '/') >= 0 }

// chainBook returns a slot's non-cancelled orders on chain as the book holds
// them: plain orders as they are, curve orders one order per step.
func chainBook(c *chain.Chain) func(unit.Slot) []market.Order {
	return func(s unit.Slot) []market.Order {
		orders, curves := c.Book(s)
		for _, cv := range curves {
			for k, st := range cv.Steps {
				orders = append(orders, market.Order{ID: stepID(cv.ID, k), Owner: cv.Owner, Side: cv.Side, Slot: cv.Slot, Energy: st.Energy, Price: st.Price, Height: cv.Height})
			}
		}
		return orders
	}
}

// slotOf returns the book of slot s, made if need be.
func (b *localBook) slotOf(s unit.Slot) *bookSlot {
	bs := b.slots[s]
	if bs == nil {
		bs = &bookSlot{ind: market.NewIndicative(s, b.t, b.g.Params), held: make(map[string]heldOrder), owners: make(map[string]int), withdrawn: make(map[string]bool)}
		b.slots[s] = bs
	}
	return bs
}

// add adds an order unless it is held or over the limits; a pending order
// that a block confirms is re-added with its height.
func (b *localBook) add(o market.Order, confirmed bool) {
	if s, ok := b.slot[o.ID]; ok {
		if !confirmed || b.slots[s].held[o.ID].confirmed {
			return
		}
		b.remove(o.ID)
	}
	bs := b.slotOf(o.Slot)
	if bs.withdrawn[o.ID] {
		return
	}
	if !confirmed && (!isStep(o.ID) && bs.owners[o.Owner] >= bookOwnerOrders || len(bs.held) >= bookSlotOrders) {
		b.drops++
		return
	}
	if bs.ind.Add(o) != nil {
		return // outside the tariff the book was made with (a tariff change is a rebuild)
	}
	bs.held[o.ID] = heldOrder{owner: o.Owner, confirmed: confirmed}
	if !isStep(o.ID) {
		bs.owners[o.Owner]++
	}
	b.slot[o.ID] = o.Slot
}

func (b *localBook) remove(id string) {
	s, ok := b.slot[id]
	if !ok {
		return
	}
	bs := b.slots[s]
	owner := bs.held[id].owner
	bs.ind.Remove(id)
	delete(bs.held, id)
	delete(b.slot, id)
	if isStep(id) {
		return
	}
	if bs.owners[owner]--; bs.owners[owner] <= 0 {
		delete(bs.owners, owner)
	}
}

// confirm merges what the chain holds after a commit: every open slot's
// orders on chain are held as confirmed, and a confirmed order the chain no
// longer lists (cancelled or replaced) is removed. orders(s) is the chain's
// non-cancelled orders of s, open the chain's open slots; t its tariff now.
func (b *localBook) confirm(open []unit.Slot, orders func(unit.Slot) []market.Order, t market.Tariff) {
	if t != b.t {
		// A new tariff: rebuild the pending part under it.
		old := b.slots
		b.t, b.slots, b.slot = t, make(map[unit.Slot]*bookSlot), make(map[string]unit.Slot)
		for _, s := range slices.Sorted(maps.Keys(old)) {
			maps.Copy(b.slotOf(s).withdrawn, old[s].withdrawn)
			for _, o := range old[s].ind.Orders() {
				if !old[s].held[o.ID].confirmed {
					b.add(o, false)
				}
			}
		}
	}
	for _, s := range open {
		onChain := orders(s)
		ids := make(map[string]bool, len(onChain))
		for _, o := range onChain {
			ids[o.ID] = true
			b.add(o, true)
		}
		if bs := b.slots[s]; bs != nil {
			for id, h := range bs.held {
				if h.confirmed && !ids[id] {
					b.remove(id)
				}
			}
		}
	}
}

// gate closes the book of every slot whose gate closed at nowMs: its
// indicative price and volume are kept for the comparison with the clearing
// (cleared), and its orders are dropped.
func (b *localBook) gate(nowMs int64) {
	for _, s := range slices.Sorted(maps.Keys(b.slots)) {
		if nowMs >= b.g.GateClosure(s) {
			b.closeSlot(s)
		}
	}
}

func (b *localBook) closeSlot(s unit.Slot) {
	bs := b.slots[s]
	if bs == nil {
		return
	}
	p, v := bs.ind.Now()
	b.gates = append(b.gates, GateCheck{Slot: s, IndicativePrice: p, IndicativeVolume: v, Orders: bs.ind.Len(), digest: digest(bs.ind.Orders())})
	if len(b.gates) > bookGateChecks {
		b.gates = slices.Delete(b.gates, 0, len(b.gates)-bookGateChecks)
	}
	for id := range bs.held {
		delete(b.slot, id)
	}
	delete(b.slots, s)
}

// cleared records the chain's clearing of slot s, over orders, against the
// indicative price shown at its gate closure. A clearing that comes before
// this node's clock passed the gate closes the slot's book first.
func (b *localBook) cleared(s unit.Slot, r market.Result, orders []market.Order) {
	b.closeSlot(s)
	for i := range b.gates {
		if g := &b.gates[i]; g.Slot == s && !g.Cleared {
			g.Cleared, g.ClearedPrice, g.ClearedVolume = true, r.Price, r.Volume
			g.SameOrders = g.digest == digest(orders)
		}
	}
}

// closing returns the slots that a block at timeMs may clear: those held or
// awaiting their clearing whose gate closed by then.
func (b *localBook) closing(timeMs int64) []unit.Slot {
	var out []unit.Slot
	for s := range b.slots {
		if b.g.GateClosure(s) <= timeMs {
			out = append(out, s)
		}
	}
	for _, g := range b.gates {
		if !g.Cleared && !slices.Contains(out, g.Slot) {
			out = append(out, g.Slot)
		}
	}
	return out
}

// digest identifies a set of orders by their ids and limits.
func digest(orders []market.Order) [32]byte {
	keys := make([]string, 0, len(orders))
	for _, o := range orders {
		keys = append(keys, fmt.Sprintf("%s/%d/%d/%d", o.ID, o.Side, o.Energy, o.Price))
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k + "\n"))
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// status returns the open slots in slot order, and the recent gate checks.
func (b *localBook) status() ([]OpenSlot, []GateCheck) {
	out := make([]OpenSlot, 0, len(b.slots))
	for _, s := range slices.Sorted(maps.Keys(b.slots)) {
		bs := b.slots[s]
		p, v := bs.ind.Now()
		conf := 0
		for _, h := range bs.held {
			if h.confirmed {
				conf++
			}
		}
		out = append(out, OpenSlot{Slot: s, IndicativePrice: p, IndicativeVolume: v, Orders: bs.ind.Len(), Confirmed: conf})
	}
	return out, slices.Clone(b.gates)
}

// holds reports whether the book holds order id.
func (b *localBook) holds(id string) bool {
	_, ok := b.slot[id]
	return ok
}
