package chain

import (
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Event is something the state machine did at a block that is not a transaction.
// Its dynamic type is SlotCleared or SlotSettled.
type Event interface{}

// SlotCleared: the slot's gate closed and its call auction ran.
type SlotCleared struct {
	Slot   unit.Slot
	Result market.Result
}

// SlotSettled: the slot's attestation window ended (or it cleared with no trades)
// and its trades were settled; Settlement.Transfers were applied to the balances.
type SlotSettled struct {
	Slot       unit.Slot
	Settlement market.Settlement
}

// applyTx checks tx against s at a block of the given height and time and, if it
// is valid and dry is false, applies it to s. On error s is unchanged. The signature is checked by
// the caller (Tx.Verify), not here. verify checks evidence (nil: evidence is refused).
func (s *state) applyTx(g *Genesis, verify EvidenceVerifier, tx Tx, height uint64, timeMs int64, dry bool) error {
	if tx.ChainID != g.ChainID {
		return fmt.Errorf("%w: %q, want %q", ErrChainID, tx.ChainID, g.ChainID)
	}
	h := tx.Hash()
	if s.txs.has(h) {
		return fmt.Errorf("%w: %s", ErrDuplicate, h)
	}
	rec := txRec{Height: height, Kind: tx.Kind}
	switch tx.Kind {
	case TxAdmit:
		if !s.isAuthorityAt(tx.From, height) {
			return fmt.Errorf("%w: %s at height %d", ErrNotAuthority, tx.From, height)
		}
		if s.participants.has(tx.Admit.Participant) {
			return fmt.Errorf("%w: %s", ErrAdmitted, tx.Admit.Participant)
		}
		if dry {
			return nil
		}
		s.participants.set(tx.Admit.Participant, admission{Name: tx.Admit.Name, Height: height})
	case TxTariff:
		if !s.isAuthorityAt(tx.From, height) {
			return fmt.Errorf("%w: %s at height %d", ErrNotAuthority, tx.From, height)
		}
		if tx.Tariff.Seq <= s.tariff.Seq {
			return fmt.Errorf("%w: %d after %d", ErrTariffSeq, tx.Tariff.Seq, s.tariff.Seq)
		}
		if err := checkTariff(tx.Tariff.Market()); err != nil {
			return fmt.Errorf("%w: %v", ErrTariff, err)
		}
		if dry {
			return nil
		}
		s.tariff = *tx.Tariff
	case TxOrder:
		o := tx.Order
		if !s.participants.has(tx.From) {
			return ErrNotAdmitted
		}
		// The first test keeps absurd slots away from the time arithmetic, which
		// would overflow.
		if o.Slot < g.SlotAt(timeMs) || o.Slot > g.SlotAt(timeMs+g.OpenLeadSeconds*1000)+1 ||
			timeMs < g.OpenAt(o.Slot) || timeMs >= g.GateClosure(o.Slot) {
			return fmt.Errorf("%w: %s open [%d, %d) ms, block time %d", ErrSlotClosed, o.Slot, g.OpenAt(o.Slot), g.GateClosure(o.Slot), timeMs)
		}
		mo := market.Order{ID: h.String(), Owner: string(tx.From), Side: o.Side, Slot: o.Slot, Energy: o.Energy, Price: o.Price, Height: height}
		if err := s.tariff.Market().Check(mo); err != nil {
			return fmt.Errorf("%w: %w", ErrOrderBounds, err)
		}
		if s.isCleared(o.Slot) {
			// Unreachable while block times increase: clearing happens only after gate closure.
			return fmt.Errorf("%w: %s already cleared", ErrSlotClosed, o.Slot)
		}
		if dry {
			return nil
		}
		s.slot(o.Slot).orders.set(mo.ID, orderRec{Order: mo})
		rec.Slot = o.Slot
	case TxCancel:
		id := tx.Cancel.Order
		r, ok := s.txs.get(id)
		if !ok || r.Kind != TxOrder {
			return fmt.Errorf("%w: %s", ErrNoOrder, id)
		}
		ss, ok := s.slots.get(r.Slot)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoOrder, id)
		}
		or, ok := ss.orders.get(id.String())
		if !ok || or.Cancelled {
			return fmt.Errorf("%w: %s", ErrNoOrder, id)
		}
		if or.Order.Owner != string(tx.From) {
			return ErrNotOwner
		}
		if timeMs >= g.GateClosure(r.Slot) {
			return fmt.Errorf("%w: gate closed for %s", ErrSlotClosed, r.Slot)
		}
		if dry {
			return nil
		}
		or.Cancelled = true
		or.CancelTx = &h
		s.slot(r.Slot).orders.set(id.String(), or)
		rec.Slot = r.Slot
	case TxAttest:
		a := tx.Attest
		if !s.participants.has(tx.From) {
			return ErrNotAdmitted
		}
		if a.Slot > g.SlotAt(timeMs) || a.Slot < g.SlotAt(timeMs-(g.AttestWindowSeconds+g.SlotSeconds)*1000)-1 ||
			timeMs < g.SlotEnd(a.Slot) || timeMs >= g.SettleAt(a.Slot) {
			return fmt.Errorf("%w: %s window [%d, %d) ms, block time %d", ErrAttestWindow, a.Slot, g.SlotEnd(a.Slot), g.SettleAt(a.Slot), timeMs)
		}
		ss, ok := s.slots.get(a.Slot)
		if !ok || s.isSettled(a.Slot) {
			return fmt.Errorf("%w: %s", ErrNothingToSettle, a.Slot)
		}
		if ss.attest.has(tx.From) {
			return fmt.Errorf("%w: %s", ErrAttested, a.Slot)
		}
		if dry {
			return nil
		}
		s.slot(a.Slot).attest.set(tx.From, attestRec{Import: a.Import, Export: a.Export, Journal: a.Journal, Tx: h, Height: height})
		rec.Slot = a.Slot
	case TxEvidence:
		if err := s.applyEvidence(g, verify, tx, h, height, dry); err != nil {
			return err
		}
		if dry {
			return nil
		}
	case TxAuthority:
		if err := s.applyVote(g, tx.From, *tx.Authority, height, dry); err != nil {
			return err
		}
		if dry {
			return nil
		}
	default:
		return fmt.Errorf("%w: kind %s", ErrTxShape, tx.Kind)
	}
	s.txs.set(h, rec)
	return nil
}

// endBlock tallies authority-set votes (see tallyVotes), clears every slot with
// orders whose gate closed at or before timeMs and settles every cleared slot
// whose attestation window ended, in slot order.
func (s *state) endBlock(g *Genesis, height uint64, timeMs int64) []Event {
	s.tallyVotes(g, height)
	var events []Event
	slots := slices.Sorted(s.slots.keys())
	for _, sl := range slots {
		if s.isCleared(sl) || g.GateClosure(sl) > timeMs {
			continue
		}
		ss, _ := s.slots.get(sl)
		orders := make([]market.Order, 0, ss.orders.len())
		for _, id := range slices.Sorted(ss.orders.keys()) {
			if r, _ := ss.orders.get(id); !r.Cancelled {
				orders = append(orders, r.Order)
			}
		}
		t := s.tariff.Market()
		res := market.Clear(sl, orders, t, g.Params)
		s.cleared[sl] = newCleared(res, t)
		events = append(events, SlotCleared{Slot: sl, Result: res})
	}
	for _, sl := range slots {
		c, done := s.clearedOf(sl)
		if !done || s.isSettled(sl) {
			continue
		}
		if len(c.Result.Trades) > 0 && g.SettleAt(sl) > timeMs {
			continue
		}
		ss, _ := s.slots.get(sl)
		metered := make(map[string]market.Metered, ss.attest.len())
		for a, r := range ss.attest.all() {
			metered[string(a)] = market.Metered{Import: r.Import, Export: r.Export}
		}
		var st market.Settlement
		if len(c.Result.Trades) > 0 {
			st = market.Settle(sl, c.Result.Trades, metered, c.Tariff, string(g.Operator))
		} else {
			st = market.Settlement{Slot: sl}
		}
		for _, tr := range st.Transfers {
			a := ident.Account(tr.Account)
			v, _ := s.balances.get(a)
			s.balances.set(a, v+tr.Amount)
		}
		s.settled[sl] = newSettled(st)
		events = append(events, SlotSettled{Slot: sl, Settlement: st})
	}
	s.prune(maxPrunePerBlock)
	return events
}

// maxPrunePerBlock bounds the state entries pruning deletes in one block, so that
// a block's changes always fit one badger transaction (see MaxBlockTxs).
const maxPrunePerBlock = 2048

// prune removes settled slots' orders, attestations and their replay records
// (order, cancel and attest txs), oldest slot first, deleting at most budget
// entries; the rest waits for later blocks. Replays of pruned transactions fail
// the timing rules, as their slot's windows have passed.
func (s *state) prune(budget int) {
	for _, sl := range slices.Sorted(s.slots.keys()) {
		if !s.isSettled(sl) {
			continue
		}
		ss := s.slot(sl)
		for _, id := range slices.Sorted(ss.orders.keys()) {
			if budget < 3 {
				return
			}
			r, _ := ss.orders.get(id)
			if h, err := ParseHash(id); err == nil {
				s.txs.del(h)
			}
			if r.CancelTx != nil {
				s.txs.del(*r.CancelTx)
			}
			ss.orders.del(id)
			budget -= 3
		}
		for _, a := range slices.Sorted(ss.attest.keys()) {
			if budget < 2 {
				return
			}
			r, _ := ss.attest.get(a)
			s.txs.del(r.Tx)
			ss.attest.del(a)
			budget -= 2
		}
		s.slots.del(sl)
	}
}

// due reports whether a block at timeMs would clear or settle anything.
func (s *state) due(g *Genesis, timeMs int64) bool {
	for sl := range s.slots.keys() {
		if s.isSettled(sl) {
			continue // only pruning left, which never needs a block of its own
		}
		c, cleared := s.clearedOf(sl)
		if !cleared && g.GateClosure(sl) <= timeMs {
			return true
		}
		if cleared && (len(c.Result.Trades) == 0 || g.SettleAt(sl) <= timeMs) {
			return true
		}
	}
	return false
}
