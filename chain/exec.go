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

// txContext is what a transaction is checked and applied against: the block it
// is in (height, time) and the transaction with its hash.
type txContext struct {
	g      *Genesis
	verify EvidenceVerifier // nil: evidence is refused
	tx     Tx
	h      ident.Hash // tx.Hash()
	height uint64
	timeMs int64
	dry    bool // check only: s must not change
}

// applyTx checks tx against s at a block of the given height and time and, if it
// is valid and dry is false, applies it to s. On error s is unchanged. The
// signature is checked by the caller (Tx.Verify), not here. verify checks
// evidence (nil: evidence is refused).
//
// The checks common to every kind (chain id, replay) come first; then one
// function per kind checks and applies its payload and names the slot the
// transaction belongs to (0 for none); finally the replay record is written.
func (s *state) applyTx(g *Genesis, verify EvidenceVerifier, tx Tx, height uint64, timeMs int64, dry bool) error {
	if tx.ChainID != g.ChainID {
		return fmt.Errorf("%w: %q, want %q", ErrChainID, tx.ChainID, g.ChainID)
	}
	h := tx.Hash()
	if s.txs.has(h) {
		return fmt.Errorf("%w: %s", ErrDuplicate, h)
	}
	var apply func(*state, *txContext) (unit.Slot, error)
	switch tx.Kind {
	case TxAdmit:
		apply = (*state).applyAdmit
	case TxTariff:
		apply = (*state).applyTariff
	case TxOrder:
		apply = (*state).applyOrder
	case TxCancel:
		apply = (*state).applyCancel
	case TxAttest:
		apply = (*state).applyAttest
	case TxEvidence:
		apply = (*state).applyEvidenceTx
	case TxAuthority:
		apply = (*state).applyAuthority
	case TxUpgrade:
		apply = (*state).applyUpgrade
	case TxRelease:
		apply = (*state).applyRelease
	default:
		return fmt.Errorf("%w: kind %s", ErrTxShape, tx.Kind)
	}
	x := txContext{g: g, verify: verify, tx: tx, h: h, height: height, timeMs: timeMs, dry: dry}
	sl, err := apply(s, &x)
	if err != nil || dry {
		return err
	}
	s.txs.set(h, txRec{Height: height, Kind: tx.Kind, Slot: sl})
	return nil
}

// applyAdmit: an authority of the block's height admits a new participant.
func (s *state) applyAdmit(x *txContext) (unit.Slot, error) {
	tx := x.tx
	if !s.isAuthorityAt(tx.From, x.height) {
		return 0, fmt.Errorf("%w: %s at height %d", ErrNotAuthority, tx.From, x.height)
	}
	if s.participants.has(tx.Admit.Participant) {
		return 0, fmt.Errorf("%w: %s", ErrAdmitted, tx.Admit.Participant)
	}
	if x.dry {
		return 0, nil
	}
	s.participants.set(tx.Admit.Participant, admission{Name: tx.Admit.Name, Height: x.height})
	return 0, nil
}

// applyTariff: an authority of the block's height sets a valid tariff with a
// higher Seq.
func (s *state) applyTariff(x *txContext) (unit.Slot, error) {
	tx := x.tx
	if !s.isAuthorityAt(tx.From, x.height) {
		return 0, fmt.Errorf("%w: %s at height %d", ErrNotAuthority, tx.From, x.height)
	}
	if tx.Tariff.Seq <= s.tariff.Seq {
		return 0, fmt.Errorf("%w: %d after %d", ErrTariffSeq, tx.Tariff.Seq, s.tariff.Seq)
	}
	if s.active(UpgradeTariffSeqNext, x.height) && tx.Tariff.Seq != s.tariff.Seq+1 {
		return 0, fmt.Errorf("%w: %d after %d: since upgrade %s the next seq only", ErrTariffSeq, tx.Tariff.Seq, s.tariff.Seq, UpgradeTariffSeqNext)
	}
	if err := checkTariff(tx.Tariff.Market()); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrTariff, err)
	}
	if x.dry {
		return 0, nil
	}
	s.tariff = *tx.Tariff
	return 0, nil
}

// applyOrder: an admitted participant places an order while its slot is open,
// within the current tariff's bounds, before its expiry; a replacement also
// cancels the order it replaces (order_rules.go).
func (s *state) applyOrder(x *txContext) (unit.Slot, error) {
	tx, g, timeMs := x.tx, x.g, x.timeMs
	o := tx.Order
	if !s.participants.has(tx.From) {
		return 0, ErrNotAdmitted
	}
	// The first test keeps absurd slots away from the time arithmetic, which
	// would overflow.
	if o.Slot < g.SlotAt(timeMs) || o.Slot > g.SlotAt(timeMs+g.OpenLeadSeconds*1000)+1 ||
		timeMs < g.OpenAt(o.Slot) || timeMs >= g.GateClosure(o.Slot) {
		return 0, fmt.Errorf("%w: %s open [%d, %d) ms, block time %d", ErrSlotClosed, o.Slot, g.OpenAt(o.Slot), g.GateClosure(o.Slot), timeMs)
	}
	mo := market.Order{ID: x.h.String(), Owner: string(tx.From), Side: o.Side, Slot: o.Slot, Energy: o.Energy, Price: o.Price, Height: x.height}
	if err := o.checkTariff(s.tariff.Market()); err != nil { // order_rules.go
		return 0, err
	}
	if s.isCleared(o.Slot) {
		// Unreachable while block times increase: clearing happens only after gate closure.
		return 0, fmt.Errorf("%w: %s already cleared", ErrSlotClosed, o.Slot)
	}
	replaced, err := s.checkLifecycle(x) // order_rules.go
	if err != nil {
		return 0, err
	}
	if x.dry {
		return 0, nil
	}
	if replaced != "" {
		s.replace(x, o.Slot, replaced)
	}
	rec := orderRec{Order: mo}
	if len(o.Curve) > 0 {
		rec.Curve = marketSteps(o.Curve)
	}
	s.slot(o.Slot).orders.set(mo.ID, rec)
	return o.Slot, nil
}

// applyCancel: the owner of an open order cancels it before gate closure.
func (s *state) applyCancel(x *txContext) (unit.Slot, error) {
	tx := x.tx
	id := tx.Cancel.Order
	r, ok := s.txs.get(id)
	if !ok || r.Kind != TxOrder {
		return 0, fmt.Errorf("%w: %s", ErrNoOrder, id)
	}
	ss, ok := s.slots.get(r.Slot)
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrNoOrder, id)
	}
	or, ok := ss.orders.get(id.String())
	if !ok || or.Cancelled {
		return 0, fmt.Errorf("%w: %s", ErrNoOrder, id)
	}
	if or.Order.Owner != string(tx.From) {
		return 0, ErrNotOwner
	}
	if x.timeMs >= x.g.GateClosure(r.Slot) {
		return 0, fmt.Errorf("%w: gate closed for %s", ErrSlotClosed, r.Slot)
	}
	if x.dry {
		return 0, nil
	}
	h := x.h
	or.Cancelled = true
	or.CancelTx = &h
	s.slot(r.Slot).orders.set(id.String(), or)
	return r.Slot, nil
}

// applyAttest: an admitted participant attests its metering once per slot,
// inside the slot's attestation window, for a slot with orders not yet settled.
func (s *state) applyAttest(x *txContext) (unit.Slot, error) {
	tx, g, timeMs := x.tx, x.g, x.timeMs
	a := tx.Attest
	if !s.participants.has(tx.From) {
		return 0, ErrNotAdmitted
	}
	// A slot still waiting for a late attestation (settleDue) takes
	// attestations until the late window ends; the first test keeps absurd
	// slots away from the time arithmetic.
	late := s.tariff.lateMs()
	if a.Slot > g.SlotAt(timeMs) || a.Slot < g.SlotAt(timeMs-(g.AttestWindowSeconds+g.SlotSeconds)*1000-late)-1 ||
		timeMs < g.SlotEnd(a.Slot) || timeMs >= g.SettleAt(a.Slot)+late {
		return 0, fmt.Errorf("%w: %s window [%d, %d) ms, block time %d", ErrAttestWindow, a.Slot, g.SlotEnd(a.Slot), g.SettleAt(a.Slot)+late, timeMs)
	}
	ss, ok := s.slots.get(a.Slot)
	if !ok || s.isSettled(a.Slot) {
		return 0, fmt.Errorf("%w: %s", ErrNothingToSettle, a.Slot)
	}
	if ss.attest.has(tx.From) {
		return 0, fmt.Errorf("%w: %s", ErrAttested, a.Slot)
	}
	if x.dry {
		return 0, nil
	}
	s.slot(a.Slot).attest.set(tx.From, attestRec{Import: a.Import, Export: a.Export, Journal: a.Journal, Tx: x.h, Height: x.height})
	return a.Slot, nil
}

// applyEvidenceTx records checked evidence of equivocation (evidence.go).
func (s *state) applyEvidenceTx(x *txContext) (unit.Slot, error) {
	return 0, s.applyEvidence(x.g, x.verify, x.tx, x.h, x.height, x.dry)
}

// applyAuthority counts an authority's vote on the authority set (authority.go).
func (s *state) applyAuthority(x *txContext) (unit.Slot, error) {
	return 0, s.applyVote(x.g, x.tx.From, *x.tx.Authority, x.height, x.dry)
}

// endBlock tallies authority-set votes (see tallyVotes), clears every slot with
// orders whose gate closed at or before timeMs and settles every cleared slot
// whose attestation window ended, in slot order.
func (s *state) endBlock(g *Genesis, height uint64, timeMs int64) []Event {
	s.tallyVotes(g, height)
	s.lapseUpgradeVotes(height)
	var events []Event
	slots := slices.Sorted(s.slots.keys())
	for _, sl := range slots {
		if s.isCleared(sl) || g.GateClosure(sl) > timeMs {
			continue
		}
		ss, _ := s.slots.get(sl)
		orders, curves := ss.book()
		t := s.tariff.Market()
		// Without curve orders (curves nil) this is market.Clear exactly
		// (order_rules.go, Curve orders).
		res := market.ClearCurves(sl, orders, curves, t, g.Params)
		s.cleared[sl] = newCleared(res, t)
		events = append(events, SlotCleared{Slot: sl, Result: res})
	}
	for _, sl := range slots {
		c, done := s.clearedOf(sl)
		if !done || s.isSettled(sl) {
			continue
		}
		ss, _ := s.slots.get(sl)
		if !s.settleDue(g, sl, ss, c, timeMs) {
			continue
		}
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

// settleDue reports whether cleared slot sl (ss its orders and attestations)
// settles in a block at timeMs: at once without trades; at SettleAt if every
// party of its trades has attested or the tariff policy has no late window;
// otherwise when the last party attests or the late window ends, whichever
// comes first (doc.go, Late attestations).
func (s *state) settleDue(g *Genesis, sl unit.Slot, ss *slotState, c clearedRec, timeMs int64) bool {
	trades := c.Result.Trades
	switch {
	case len(trades) == 0:
		return true
	case timeMs < g.SettleAt(sl):
		return false
	case s.tariff.LateSeconds == 0 || timeMs >= g.SettleAt(sl)+s.tariff.lateMs():
		return true
	}
	if ss == nil {
		return true // no attestation can arrive for a slot without orders
	}
	for _, t := range trades {
		if !ss.attest.has(ident.Account(t.Seller)) || !ss.attest.has(ident.Account(t.Buyer)) {
			return false
		}
	}
	return true
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
			if h, err := ident.ParseHash(id); err == nil {
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
		if cleared {
			if ss, _ := s.slots.get(sl); s.settleDue(g, sl, ss, c, timeMs) {
				return true
			}
		}
	}
	return false
}
