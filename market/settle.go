package market

import (
	"math/bits"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/unit"
)

// Metered is one participant's attested import and export for a slot.
// Negative values are treated as 0.
type Metered struct{ Import, Export unit.Wh }

// SettledTrade is a trade with its settled energy and money.
type SettledTrade struct {
	Trade
	Settled  unit.Wh    // energy actually delivered under this trade, in [0, Energy]
	Paid     unit.Money // by the buyer: Amount(Settled, Price)
	Received unit.Money // by the seller: Amount(Settled, Price − Fee)
	Fee      unit.Money // to the operator: Paid − Received
}

// Transfer is a net balance change of one account.
type Transfer struct {
	Account string
	Amount  unit.Money
}

// Settlement is the settlement of one slot.
type Settlement struct {
	Slot      unit.Slot
	Trades    []SettledTrade // same order as the input trades
	Energy    unit.Wh        // total settled energy
	Transfers []Transfer     // net balance change per account, sorted by account, no zeros; sums to 0
}

// Settle allocates settled energy per trade: a seller delivers
// min(sum traded, Export), a buyer consumes min(sum traded, Import), each pro
// rata across that party's trades (integer rule: floor, remainder 1 Wh at a
// time in the order of trades); a missing entry in metered means "no
// attestation": a seller then delivered nothing, a buyer is taken to have
// consumed what it bought. Settled = min(seller share, buyer share).
// The buyer pays unit.Amount(settled, price), the seller receives
// unit.Amount(settled, price − fee), the operator receives the difference, so
// every settlement sums to exactly zero.
//
// trades should be a Result's Trades, settled with the tariff they were
// cleared with. A trade that Clear cannot produce (energy outside
// [1, MaxEnergy], price outside [Fee, MaxPrice]) settles nothing, and with an
// invalid tariff nothing settles, so Settle never panics or overflows on
// Clear's output. metered is only read.
func Settle(slot unit.Slot, trades []Trade, metered map[string]Metered, t Tariff, operator string) Settlement {
	s := Settlement{Slot: slot, Trades: make([]SettledTrade, len(trades))}
	valid := t.Validate() == nil
	ok := func(tr *Trade) bool {
		return valid && tr.Energy >= 1 && tr.Energy <= MaxEnergy && tr.Price >= t.Fee && tr.Price <= MaxPrice
	}
	sellShare := shares(trades, ok, func(tr *Trade) string { return tr.Seller }, func(total unit.Wh, m Metered, found bool) unit.Wh {
		if !found {
			return 0
		}
		return min(total, max(m.Export, 0))
	}, metered)
	buyShare := shares(trades, ok, func(tr *Trade) string { return tr.Buyer }, func(total unit.Wh, m Metered, found bool) unit.Wh {
		if !found {
			return total
		}
		return min(total, max(m.Import, 0))
	}, metered)

	net := make(map[string]unit.Money)
	for i := range trades {
		tr := trades[i]
		st := SettledTrade{Trade: tr}
		if ok(&tr) {
			st.Settled = min(sellShare[i], buyShare[i])
			st.Paid = unit.MustAmount(st.Settled, tr.Price)
			st.Received = unit.MustAmount(st.Settled, tr.Price-t.Fee)
			st.Fee = st.Paid - st.Received
			s.Energy += st.Settled
			net[tr.Buyer] -= st.Paid
			net[tr.Seller] += st.Received
			net[operator] += st.Fee
		}
		s.Trades[i] = st
	}
	for acct, m := range net {
		if m != 0 {
			s.Transfers = append(s.Transfers, Transfer{Account: acct, Amount: m})
		}
	}
	slices.SortFunc(s.Transfers, func(a, b Transfer) int { return strings.Compare(a.Account, b.Account) })
	return s
}

// shares allocates each party's measured energy pro rata across its trades.
// limit returns the party's energy to allocate given its total traded energy.
func shares(trades []Trade, ok func(*Trade) bool, party func(*Trade) string,
	limit func(total unit.Wh, m Metered, found bool) unit.Wh, metered map[string]Metered) []unit.Wh {
	total := make(map[string]unit.Wh)
	for i := range trades {
		if ok(&trades[i]) {
			total[party(&trades[i])] += trades[i].Energy
		}
	}
	left := make(map[string]unit.Wh, len(total))
	for p, tot := range total {
		m, found := metered[p]
		left[p] = limit(tot, m, found)
	}
	share := make([]unit.Wh, len(trades))
	// Floor of the pro rata share: e × allowed / total, 128-bit.
	for i := range trades {
		tr := &trades[i]
		if !ok(tr) {
			continue
		}
		p := party(tr)
		m, found := metered[p]
		allowed := limit(total[p], m, found)
		hi, lo := bits.Mul64(uint64(tr.Energy), uint64(allowed))
		q, _ := bits.Div64(hi, lo, uint64(total[p]))
		share[i] = unit.Wh(q)
		left[p] -= unit.Wh(q)
	}
	// Remainder: 1 Wh at a time in the order of trades. One pass suffices:
	// a party's remainder is smaller than its number of trades, and while
	// allowed < total every floor share is below its trade's energy.
	for i := range trades {
		tr := &trades[i]
		if !ok(tr) {
			continue
		}
		if p := party(tr); left[p] > 0 && share[i] < tr.Energy {
			share[i]++
			left[p]--
		}
	}
	return share
}
