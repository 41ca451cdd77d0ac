package chain

import (
	"errors"
	"fmt"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// The order lifecycle rules (chain/doc.go, State machine): an order may
// expire, and it may replace the sender's open order of the same slot.
//
// Replacing is a field of the order (Order.Replaces), not a transaction kind
// of its own: a replacement is a whole new order (side, energy, price), and
// its one check is that the order it names is the sender's, for the same
// slot, and still open. Marking the old order cancelled by the new one (its
// CancelTx) reuses the state's existing order record, so the state encoding
// does not change and pruning removes both with the slot.

// checkLifecycle checks an order's expiry and, for a replacement, the order it
// replaces, at the block of x. It returns the id of the order replaced ("" for
// none); it writes nothing.
func (s *state) checkLifecycle(x *txContext) (replaced string, err error) {
	o := x.tx.Order
	if o.Expires != 0 && x.height > o.Expires {
		return "", fmt.Errorf("%w: valid until height %d, block %d", ErrExpired, o.Expires, x.height)
	}
	if o.Replaces == nil {
		return "", nil
	}
	id := *o.Replaces
	r, ok := s.txs.get(id)
	if !ok || r.Kind != TxOrder {
		return "", fmt.Errorf("%w: replaces %s", ErrNoOrder, id)
	}
	if r.Slot != o.Slot {
		return "", fmt.Errorf("%w: replaces an order of %s, this one is for %s", ErrReplaceSlot, r.Slot, o.Slot)
	}
	ss, ok := s.slots.get(r.Slot)
	if !ok {
		return "", fmt.Errorf("%w: replaces %s", ErrNoOrder, id)
	}
	or, ok := ss.orders.get(id.String())
	if !ok {
		return "", fmt.Errorf("%w: replaces %s", ErrNoOrder, id)
	}
	if or.Order.Owner != string(x.tx.From) {
		return "", fmt.Errorf("%w: replaces %s", ErrNotOwner, id)
	}
	if or.Cancelled {
		return "", fmt.Errorf("%w: %s", ErrReplaced, id)
	}
	return id.String(), nil
}

// replace marks the order id of slot sl as cancelled by the replacing order's
// tx (x.h).
func (s *state) replace(x *txContext, sl unit.Slot, id string) {
	ss := s.slot(sl)
	or, _ := ss.orders.get(id)
	h := x.h
	or.Cancelled = true
	or.CancelTx = &h
	ss.orders.set(id, or)
}

// # Curve orders
//
// An order with a Curve is a price-quantity curve (market.Curve): a battery
// or a flexible load that wants more energy the cheaper it is (a buy) or
// offers more the dearer it is (a sell). The rules, each named in its error:
//
//   - curve steps: 2 to MaxCurveSteps steps (a one-step curve is written as a
//     plain order, so that one order has one form);
//   - curve energy: each step's energy in [1, MaxEnergy], their sum equal to
//     the order's Energy (so at most MaxEnergy in all);
//   - curve price: the order's Price equal to the first step's price (its
//     best: a buy's highest, a sell's lowest), so that a reader that knows
//     nothing of curves sees the order's size and best price;
//   - curve monotone: buy prices strictly falling, sell prices strictly
//     rising from step to step (equal neighbours would be one step);
//   - within the tariff: every step's price in [Floor, Ceiling]
//     (market.Tariff.CheckCurve), when the order is included.
//
// The first four are structural and checked by Tx.Verify (ErrTxShape); the
// last by the state machine (ErrOrderBounds). Order.Check applies all of them
// and is what `gridmesh market clear` applies to its input.
//
// Clearing: a slot's curve orders take part in market.ClearCurves as
// market.Curve (ID the tx hash, Height the block height), its plain orders as
// market.Order. A slot without curve orders is cleared by
// ClearCurves(slot, orders, nil, ...), which is market.Clear by definition
// (Clear is that call), so every existing chain clears bit for bit as before
// (TestPinnedScenario, chain/sim's TestPinnedRuns). The order's state record
// keeps the steps beside the order (orderRec.Curve, omitted when empty), so
// the state of a chain without curve orders encodes as before.

// MaxCurveSteps is the most steps of a curve order.
const MaxCurveSteps = market.MaxSteps

// ErrCurve is wrapped by the structural curve rules (with ErrTxShape in
// Verify).
var ErrCurve = errors.New("chain: invalid curve order")

// checkCurve applies the structural curve rules; nil for an order without a
// curve. It assumes the plain order's bounds (side, energy, price) were
// checked.
func (o *Order) checkCurve() error {
	if len(o.Curve) == 0 {
		return nil
	}
	if n := len(o.Curve); n < 2 || n > MaxCurveSteps {
		return fmt.Errorf("%w: curve steps: %d, want 2 to %d (one step is a plain order)", ErrCurve, n, MaxCurveSteps)
	}
	var total unit.Wh
	for i, st := range o.Curve {
		switch {
		case st.Energy < 1 || st.Energy > MaxEnergy-total:
			return fmt.Errorf("%w: curve energy: step %d has %d Wh, want at least 1 and %d Wh in all at most", ErrCurve, i, st.Energy, MaxEnergy)
		case st.Price < 0 || st.Price > MaxPrice:
			return fmt.Errorf("%w: curve price: step %d price %d not in [0, %d]", ErrCurve, i, st.Price, MaxPrice)
		case i > 0 && o.Side == market.Buy && st.Price >= o.Curve[i-1].Price:
			return fmt.Errorf("%w: curve monotone: buy step %d price %d, want below step %d's %d", ErrCurve, i, st.Price, i-1, o.Curve[i-1].Price)
		case i > 0 && o.Side == market.Sell && st.Price <= o.Curve[i-1].Price:
			return fmt.Errorf("%w: curve monotone: sell step %d price %d, want above step %d's %d", ErrCurve, i, st.Price, i-1, o.Curve[i-1].Price)
		}
		total += st.Energy
	}
	if total != o.Energy {
		return fmt.Errorf("%w: curve energy: steps total %d Wh, order says %d Wh", ErrCurve, total, o.Energy)
	}
	if o.Price != o.Curve[0].Price {
		return fmt.Errorf("%w: curve price: order price %d, want the first step's %d", ErrCurve, o.Price, o.Curve[0].Price)
	}
	return nil
}

// Check applies every rule of an order's contents that the chain applies: the
// structural ones of Tx.Verify (side, energy in [1, MaxEnergy], price in
// [0, MaxPrice], the curve rules) and, against t, the tariff bounds of the
// order or of each curve step. Errors wrap ErrTxShape or ErrOrderBounds (and
// the market error). It does not check the slot's timing, the sender or the
// lifecycle fields, which need the chain's state.
func (o Order) Check(t market.Tariff) error {
	if err := o.checkShape(); err != nil {
		return err
	}
	return o.checkTariff(t)
}

// checkTariff checks the order's price, or each curve step's, against t.
func (o *Order) checkTariff(t market.Tariff) error {
	var err error
	if len(o.Curve) == 0 {
		err = t.Check(market.Order{Side: o.Side, Energy: o.Energy, Price: o.Price})
	} else {
		err = t.CheckCurve(market.Curve{Side: o.Side, Steps: marketSteps(o.Curve)})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOrderBounds, err)
	}
	return nil
}

// marketSteps converts a curve's steps to market's type.
func marketSteps(c []CurveStep) []market.Step {
	steps := make([]market.Step, len(c))
	for i, st := range c {
		steps[i] = market.Step{Energy: st.Energy, Price: st.Price}
	}
	return steps
}

// CurveOrder turns a market curve into the order that carries it on chain:
// adjacent steps of equal price are merged (the curve rules want strictly
// monotone prices) and a curve left with one step becomes a plain order. It
// does not check the result (see Order.Check); Replaces and Expires are left
// unset.
func CurveOrder(c market.Curve) Order {
	o := Order{Side: c.Side, Slot: c.Slot}
	for _, st := range c.Steps {
		if n := len(o.Curve); n > 0 && o.Curve[n-1].Price == st.Price {
			o.Curve[n-1].Energy += st.Energy
		} else {
			o.Curve = append(o.Curve, CurveStep{Energy: st.Energy, Price: st.Price})
		}
		o.Energy += st.Energy
	}
	if len(o.Curve) > 0 {
		o.Price = o.Curve[0].Price
	}
	if len(o.Curve) == 1 {
		o.Curve = nil
	}
	return o
}
