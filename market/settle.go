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
	// Number the parties once; pid[2i] is trade i's seller, pid[2i+1] its buyer.
	ids := make(map[string]int32)
	var names []string
	pid := make([]int32, 2*len(trades))
	ok := make([]bool, len(trades))
	number := func(name string) int32 {
		id, seen := ids[name]
		if !seen {
			id = int32(len(names))
			ids[name] = id
			names = append(names, name)
		}
		return id
	}
	for i := range trades {
		tr := &trades[i]
		ok[i] = valid && tr.Energy >= 1 && tr.Energy <= MaxEnergy && tr.Price >= t.Fee && tr.Price <= MaxPrice
		if ok[i] {
			pid[2*i], pid[2*i+1] = number(tr.Seller), number(tr.Buyer)
		}
	}
	sellShare := shares(trades, ok, pid, 0, len(names), func(p int32, total unit.Wh) unit.Wh {
		m, found := metered[names[p]]
		if !found {
			return 0 // no attestation: delivered nothing
		}
		return min(total, max(m.Export, 0))
	})
	buyShare := shares(trades, ok, pid, 1, len(names), func(p int32, total unit.Wh) unit.Wh {
		m, found := metered[names[p]]
		if !found {
			return total // no attestation: consumed what it bought
		}
		return min(total, max(m.Import, 0))
	})

	net := make([]unit.Money, len(names)+1) // the last is the operator's fee
	for i := range trades {
		tr := trades[i]
		st := SettledTrade{Trade: tr}
		if ok[i] {
			st.Settled = min(sellShare[i], buyShare[i])
			st.Paid = unit.MustAmount(st.Settled, tr.Price)
			st.Received = unit.MustAmount(st.Settled, tr.Price-t.Fee)
			st.Fee = st.Paid - st.Received
			s.Energy += st.Settled
			net[pid[2*i+1]] -= st.Paid
			net[pid[2*i]] += st.Received
			net[len(names)] += st.Fee
		}
		s.Trades[i] = st
	}
	if op, seen := ids[operator]; seen {
		net[op] += net[len(names)]
	} else {
		names = append(names, operator)
	}
	for p, m := range net[:len(names)] {
		if m != 0 {
			s.Transfers = append(s.Transfers, Transfer{Account: names[p], Amount: m})
		}
	}
	slices.SortFunc(s.Transfers, func(a, b Transfer) int { return strings.Compare(a.Account, b.Account) })
	return s
}

// shares allocates each party's measured energy pro rata across its trades on
// one side (off 0: sellers, 1: buyers). allowed returns a party's energy to
// allocate given its total traded energy on that side.
func shares(trades []Trade, ok []bool, pid []int32, off, parties int, allowed func(p int32, total unit.Wh) unit.Wh) []unit.Wh {
	total := make([]unit.Wh, parties)
	for i := range trades {
		if ok[i] {
			total[pid[2*i+off]] += trades[i].Energy
		}
	}
	allow := make([]unit.Wh, parties)
	left := make([]unit.Wh, parties)
	for p := range total {
		if total[p] > 0 {
			allow[p] = allowed(int32(p), total[p])
			left[p] = allow[p]
		}
	}
	share := make([]unit.Wh, len(trades))
	// Floor of the pro rata share: e × allowed / total, 128-bit.
	for i := range trades {
		if !ok[i] {
			continue
		}
		p := pid[2*i+off]
		hi, lo := bits.Mul64(uint64(trades[i].Energy), uint64(allow[p]))
		q, _ := bits.Div64(hi, lo, uint64(total[p]))
		share[i] = unit.Wh(q)
		left[p] -= unit.Wh(q)
	}
	// Remainder: 1 Wh at a time in the order of trades. One pass suffices:
	// a party's remainder is smaller than its number of trades, and while
	// allowed < total every floor share is below its trade's energy.
	for i := range trades {
		if !ok[i] {
			continue
		}
		if p := pid[2*i+off]; left[p] > 0 && share[i] < trades[i].Energy {
			share[i]++
			left[p]--
		}
	}
	return share
}
