package chain

import (
	"slices"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Balances returns every non-zero balance (participants and the operator); they
// sum to zero.
func (c *Chain) Balances() map[ident.Account]unit.Money {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[ident.Account]unit.Money, c.st.balances.len())
	for a, v := range c.st.balances.all() {
		if v != 0 {
			out[a] = v
		}
	}
	return out
}

// Participants returns the admitted participants, sorted.
func (c *Chain) Participants() []ident.Account {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Sorted(c.st.participants.keys())
}

// IsParticipant reports whether a is admitted.
func (c *Chain) IsParticipant(a ident.Account) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.participants.has(a)
}

// Tariff returns the current tariff policy.
func (c *Chain) Tariff() Tariff {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.tariff
}

// maxOpenSlots bounds OpenSlots for a genesis with a very long open lead.
const maxOpenSlots = 1024

// OpenSlots returns the slots that accept orders at nowMs, in increasing order.
func (c *Chain) OpenSlots(nowMs int64) []unit.Slot {
	g := c.g
	var out []unit.Slot
	for s := g.SlotAt(nowMs + g.GateLeadSeconds*1000); s <= g.SlotAt(nowMs+g.OpenLeadSeconds*1000) && len(out) < maxOpenSlots; s++ {
		if g.OpenAt(s) <= nowMs && nowMs < g.GateClosure(s) {
			out = append(out, s)
		}
	}
	return out
}

// Orders returns the orders of slot s on chain that are not cancelled (empty once
// the slot has settled), sorted by id. A curve order is listed with its total
// energy and first step's price; Book gives its steps.
func (c *Chain) Orders(s unit.Slot) []market.Order {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ss, ok := c.st.slots.get(s)
	if !ok || c.st.isSettled(s) {
		return nil
	}
	var out []market.Order
	for _, id := range slices.Sorted(ss.orders.keys()) {
		if r, _ := ss.orders.get(id); !r.Cancelled {
			out = append(out, r.Order)
		}
	}
	return out
}

// Book returns the open book of slot s on chain as the clearing sees it: the
// plain orders and the curve orders (each as a market.Curve), both sorted by
// id and empty once the slot has settled. (Orders lists curve orders too, as
// their total energy at their first step's price.)
func (c *Chain) Book(s unit.Slot) (orders []market.Order, curves []market.Curve) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ss, ok := c.st.slots.get(s)
	if !ok || c.st.isSettled(s) {
		return nil, nil
	}
	orders, curves = ss.book()
	for i := range curves {
		curves[i].Steps = slices.Clone(curves[i].Steps)
	}
	return orders, curves
}

// Result returns the clearing result of slot s, if it has been cleared.
func (c *Chain) Result(s unit.Slot) (market.Result, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.clearedOf(s)
	return cloneResult(r.Result), ok
}

// Settlement returns the settlement of slot s, if it has been settled.
func (c *Chain) Settlement(s unit.Slot) (market.Settlement, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.settledOf(s)
	return cloneSettlement(r.st), ok
}

func cloneResult(r market.Result) market.Result {
	r.Trades = slices.Clone(r.Trades)
	return r
}

func cloneSettlement(s market.Settlement) market.Settlement {
	s.Trades = slices.Clone(s.Trades)
	s.Transfers = slices.Clone(s.Transfers)
	return s
}

// Attested reports whether the chain holds account a's attestation of slot
// s, which it does only until the slot settles (a node that restarted asks,
// to attest only what is missing).
func (c *Chain) Attested(s unit.Slot, a ident.Account) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ss, ok := c.st.slots.get(s)
	return ok && ss.attest.has(a)
}
