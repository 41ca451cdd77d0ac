package chain

import (
	"maps"
	"slices"

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
// slots is the account's balance.
func (c *Chain) Statement(a ident.Account, from, to unit.Slot) []StatementLine {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []StatementLine
	for _, sl := range slices.Sorted(maps.Keys(c.st.hist.settled)) {
		if sl < from || sl >= to {
			continue
		}
		st := c.st.hist.settled[sl].st
		l := StatementLine{Slot: sl}
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
			if a == c.g.Operator {
				l.Fees += tr.Fee
			}
		}
		for _, t := range st.Transfers {
			if t.Account == string(a) {
				l.Net = t.Amount
				involved = true
			}
		}
		if involved {
			out = append(out, l)
		}
	}
	return out
}
