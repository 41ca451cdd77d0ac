package node

import (
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

const (
	agentLookahead = 4               // slots ahead the agent trades
	republishEvery = 2 * time.Second // sending is best-effort: repeat until included
)

// agent trades for a home: for each open slot it places one order from the
// meter's forecast (market.Quote), starting cautiously and re-pricing it by
// replace (chain.Order.Replaces) toward the homeowner's limit as gate closure
// nears (the ramp, below), and after each slot it traded in it attests the
// metered import and export from the journal, until the slot's late window
// ends (node/doc.go, Outages; also the slots a restart left unattested, and
// never a slot whose borders fall in a gap of readings). Its transactions
// are re-published until a committed block includes them or they can no
// longer be included. Slots before the network's epoch (negative indices)
// are never traded.
//
// The ramp. With N = [trading] max_replaces, the slot's order window runs
// from OpenAt to the agent's deadline, rampMargin before gate closure; at
// progress p of that window (0 to 1) the agent quotes at step floor(p × N) of
// N, that is market.Quote with progress step/N. It places its order at the
// step it first sees the slot open (step 0 from the opening) and replaces it
// when a later step is reached, once the order it replaces is in a committed
// block, so at most N times per slot; the last step (N, the limit) is due at
// the deadline, leaving rampMargin for the replacement to be included before
// the gate. N = 0 places the order at the limit at once and never re-prices.
// A replacement that quotes what the order already says is not sent. A node
// that restarts finds its open orders on chain and re-prices them (adopt)
// rather than placing a second order for the slot.
//
// The agent lives in the node's loop goroutine; it is not safe for concurrent use.
type agent struct {
	n        *Node
	ordered  map[unit.Slot]*slotOrder // slots considered; the order, if one was placed
	attested map[unit.Slot]bool
	pending  map[ident.Hash]*pendingTx
	scanned  unit.Slot // recover has looked at the slots up to this one
}

// slotOrder is the agent's order for one slot.
type slotOrder struct {
	id        ident.Hash   // the order's tx hash
	order     *chain.Order // the latest order sent; nil: none placed
	confirmed bool         // the order is in a committed block
	step      int          // the ramp step it was quoted at
	replaced  int          // replaces sent (since the node started)
	homeWh    unit.Wh      // with a battery or flexible load: the home's own part of the order
	scheduled bool         // with a battery: its share of the trades is scheduled
	flex      *flexPart    // with a flexible load in its window: the load's part
	planned   bool         // with a flexible load: its consumption is planned
}

// adopt returns the home's open order for slot s on chain, if any: a node
// that restarted re-prices the order it placed before instead of placing a
// second one.
func (a *agent) adopt(s unit.Slot) (*slotOrder, bool) {
	a.n.mu.RLock()
	orders := a.n.chain.Orders(s)
	a.n.mu.RUnlock()
	for _, o := range orders {
		if o.Owner != string(a.n.self) {
			continue
		}
		id, err := ident.ParseHash(o.ID)
		if err != nil {
			continue
		}
		// homeWh: all of it, so a restarted node schedules no battery trade
		// for an order whose split it no longer knows.
		return &slotOrder{id: id, order: &chain.Order{Side: o.Side, Slot: s, Energy: o.Energy, Price: o.Price}, confirmed: true, homeWh: o.Energy}, true
	}
	return nil, false
}

// rampMargin is how long before gate closure the ramp reaches the limit: at
// most rampMarginMax, at most a quarter of the order window.
const rampMarginMax = 10 * time.Second

type pendingTx struct {
	tx    chain.Tx
	until int64 // unix ms after which the chain would refuse it
	sent  time.Time
}

func newAgent(n *Node) *agent {
	return &agent{
		n:        n,
		ordered:  make(map[unit.Slot]*slotOrder),
		attested: make(map[unit.Slot]bool),
		pending:  make(map[ident.Hash]*pendingTx),
		scanned:  -1,
	}
}

func (a *agent) active() bool {
	return a.n.forecast != nil && a.n.cfg.Trading.Enabled
}

// tick returns the transactions to publish now: new orders and attestations, and
// earlier ones not yet included.
func (a *agent) tick(now time.Time) []chain.Tx {
	if !a.active() || !a.n.clockOK() {
		return nil
	}
	ms := now.UnixMilli()
	g := a.n.gen
	var out []chain.Tx
	cur := g.SlotAt(ms)
	for s := max(cur+1, 0); s <= cur+agentLookahead; s++ {
		if ms < g.OpenAt(s) || ms >= g.GateClosure(s) {
			continue
		}
		if tx, ok := a.reprice(s, ms); ok {
			out = append(out, a.track(tx, g.GateClosure(s), now))
		}
	}
	a.scheduleBattery(ms)
	a.planFlex(ms)
	// Attest a slot once the sampler has read past its end, and until the
	// tariff policy's late window ends: offline, the attestation is signed
	// from the journal all the same and re-sent until it is included.
	grace := 2 * a.n.cfg.Meter.Interval.Duration.Milliseconds()
	late := a.lateMs()
	a.recover(ms, late)
	for s := range a.ordered {
		if a.attested[s] || ms < g.SlotStart(s+1)+grace || ms >= g.SettleAt(s)+late {
			continue
		}
		if !a.readPast(time.UnixMilli(g.SlotStart(s + 1))) {
			continue // the sampler is late (a slow meter, a loaded machine): the next tick
		}
		a.attested[s] = true
		if tx, ok := a.attest(s); ok {
			out = append(out, a.track(tx, g.SettleAt(s)+late, now))
		}
	}
	for h, p := range a.pending {
		switch {
		case ms >= p.until:
			delete(a.pending, h)
		case now.Sub(p.sent) >= republishEvery:
			if a.settled(p.tx) {
				delete(a.pending, h) // the chain settled its slot without it: no use
				continue
			}
			p.sent = now
			out = append(out, p.tx)
		}
	}
	// Forget slots long settled.
	for s := range a.ordered {
		if ms >= g.SettleAt(s)+late+g.SlotSeconds*1000 {
			delete(a.ordered, s)
			delete(a.attested, s)
		}
	}
	return out
}

// rampStep is the ramp step (0 to steps) due at ms for slot s (see agent).
func rampStep(g *chain.Genesis, s unit.Slot, ms int64, steps int) int {
	if steps <= 0 {
		return 0
	}
	open, gate := g.OpenAt(s), g.GateClosure(s)
	end := gate - min(rampMarginMax.Milliseconds(), (gate-open)/4)
	if ms >= end {
		return steps
	}
	return int(max(ms-open, 0) * int64(steps) / (end - open))
}

// reprice returns the order to send for slot s at ms, if any: the first one
// when the slot is first seen, then a replacement when a later ramp step is
// due and the order in force is confirmed.
func (a *agent) reprice(s unit.Slot, ms int64) (chain.Tx, bool) {
	steps := a.n.cfg.Trading.MaxReplaces
	so := a.ordered[s]
	if so == nil {
		if adopted, ok := a.adopt(s); ok {
			adopted.step = rampStep(&a.n.gen, s, ms, steps)
			a.ordered[s] = adopted
			return chain.Tx{}, false
		}
	}
	if so != nil && (so.order == nil || !so.confirmed || so.replaced >= steps) {
		return chain.Tx{}, false // no order for this slot, or wait for the one in force
	}
	step := rampStep(&a.n.gen, s, ms, steps)
	if so != nil && step <= so.step {
		return chain.Tx{}, false
	}
	progress := int64(market.PPM)
	if steps > 0 {
		progress = int64(step) * market.PPM / int64(steps)
	}
	g := a.n.gen
	imp, exp := a.n.forecast.Forecast(time.UnixMilli(g.SlotStart(s)), time.UnixMilli(g.SlotStart(s+1)))
	strategy := market.Strategy{SellMin: a.n.cfg.Trading.SellMinPrice, BuyMax: a.n.cfg.Trading.BuyMaxPrice}
	a.n.mu.RLock()
	tariff := a.n.chain.Tariff().Market()
	a.n.mu.RUnlock()
	side, energy, price, ok := market.Quote(tariff, strategy, imp, exp, progress)
	want := chain.Order{Side: side, Slot: s, Energy: energy, Price: price}
	homeWh := energy
	var part *flexPart
	switch {
	case a.n.battery != nil: // the battery's curve joins the home's order (battery.go)
		secs := a.n.battery.seconds(time.UnixMilli(g.SlotStart(s)), time.UnixMilli(g.SlotStart(s+1)))
		want, homeWh, ok = batteryCurve(a.n.battery.Battery(), tariff, a.value(tariff), secs, progress, side, energy, price, ok)
	case a.n.flex != nil: // the flexible load's curve joins it in its window (flex.go)
		if o, h, p, fok, in := a.flexWant(s, tariff, strategy, imp, exp, progress); in {
			want, homeWh, part, ok = o, h, p, fok
		}
	}
	want.Slot = s
	if so == nil {
		so = &slotOrder{step: step, flex: part}
		a.ordered[s] = so
		if !ok {
			return chain.Tx{}, false
		}
		tx := a.sign(chain.Tx{Kind: chain.TxOrder, Order: &want})
		so.id, so.order, so.homeWh = tx.Hash(), tx.Order, homeWh
		return tx, true
	}
	so.step = step
	cur := so.order
	if !ok || want.Side == cur.Side && want.Energy == cur.Energy && want.Price == cur.Price && slices.Equal(want.Curve, cur.Curve) {
		return chain.Tx{}, false // nothing to trade now, or nothing changed: keep the order
	}
	old := so.id
	want.Replaces = &old
	tx := a.sign(chain.Tx{Kind: chain.TxOrder, Order: &want})
	so.id, so.order, so.homeWh, so.flex = tx.Hash(), tx.Order, homeWh, part
	so.confirmed = false
	so.replaced++
	return tx, true
}

// myOrders returns the agent's current order per slot for the status.
func (a *agent) myOrders() map[unit.Slot]*MyOrder {
	out := make(map[unit.Slot]*MyOrder, len(a.ordered))
	for s, so := range a.ordered {
		if o := so.order; o != nil {
			out[s] = &MyOrder{ID: so.id.String(), Side: o.Side.String(), Energy: o.Energy, Price: o.Price, Replaced: so.replaced, Confirmed: so.confirmed}
		}
	}
	return out
}

// recover finds, on the node's chain, the past slots still open to
// attestation (their late window has not ended) in which this home has an
// order the agent does not know and no attestation — those of a node that
// restarted, after a power cut or a crash — and takes them up so that tick
// attests them from the journal. Each slot is looked at once, when the
// node's chain has passed its gate closure (its orders are then final).
func (a *agent) recover(ms, late int64) {
	g := &a.n.gen
	a.n.mu.RLock()
	defer a.n.mu.RUnlock()
	head := a.n.chain.Head().Time
	lo := max(a.scanned+1, g.SlotAt(ms-g.AttestWindowSeconds*1000-late)-1, 0)
	hi := min(g.SlotAt(ms)-1, g.SlotAt(head+g.GateLeadSeconds*1000)-1)
	for s := lo; s <= hi; s++ {
		if _, ok := a.ordered[s]; ok || a.n.chain.Attested(s, a.n.self) {
			continue
		}
		for _, o := range a.n.chain.Orders(s) {
			if o.Owner != string(a.n.self) {
				continue
			}
			if id, err := ident.ParseHash(o.ID); err == nil {
				a.ordered[s] = &slotOrder{id: id, order: &chain.Order{Side: o.Side, Slot: s, Energy: o.Energy, Price: o.Price},
					confirmed: true, homeWh: o.Energy, scheduled: true}
				break
			}
		}
	}
	a.scanned = max(a.scanned, hi)
}

// lateMs is the tariff policy's late window (ms) as the node's chain knows it.
func (a *agent) lateMs() int64 {
	a.n.mu.RLock()
	defer a.n.mu.RUnlock()
	return a.n.chain.Tariff().LateSeconds * 1000
}

// settled reports whether tx is an attestation of a slot the node's chain
// has settled (it can no longer be included).
func (a *agent) settled(tx chain.Tx) bool {
	if tx.Attest == nil {
		return false
	}
	a.n.mu.RLock()
	defer a.n.mu.RUnlock()
	_, ok := a.n.chain.Settlement(tx.Attest.Slot)
	return ok
}

func (a *agent) attest(s unit.Slot) (chain.Tx, bool) {
	g := a.n.gen
	from, to := time.UnixMilli(g.SlotStart(s)), time.UnixMilli(g.SlotStart(s+1))
	imp, exp, ok := a.n.journal.Energy(from, to)
	if !ok {
		a.n.log.Warn("no attestation: the meter journal does not cover the slot", "slot", s)
		return chain.Tx{}, false
	}
	maxGap := a.n.maxReadGap()
	if !readAround(a.n.journal, from, maxGap) || !readAround(a.n.journal, to, maxGap) {
		a.n.log.Warn("no attestation: the meter was not read around the slot's start or end (a power cut)", "slot", s, "max_gap", maxGap)
		return chain.Tx{}, false
	}
	return a.sign(chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: s, Import: imp, Export: exp, Journal: ident.Hash(a.n.journal.Head())}}), true
}

// readPast reports whether the journal holds a reading at or after t. Until
// it does, whether the meter was read around t is not known yet: a reading
// late by more than the grace (a meter that answers slowly, a sampler the
// machine's load held up) must not count as a gap, or the slot would never
// be attested (TestAgentWaitsForReadingPastSlot). After a power cut the
// first reading is the one after it, and readAround then sees the gap.
func (a *agent) readPast(t time.Time) bool {
	r, ok := a.n.journal.Last()
	return ok && !r.Time.Before(t)
}

// maxReadGap is the longest time between two readings across a slot's
// start or end for the slot to be attested: ten meter intervals, or a
// quarter of a slot if that is longer.
func (n *Node) maxReadGap() time.Duration {
	return max(10*n.cfg.Meter.Interval.Duration, time.Duration(n.gen.SlotSeconds)*time.Second/4)
}

// readAround reports whether the journal's readings on either side of t (at
// or before it, at or after it) are at most maxGap apart: the counter at t
// is then measured, not interpolated across an outage of the meter or of
// the node (a power cut leaves no readings, and the slots it spans are not
// attested: they settle by the missing-attestation rule).
func readAround(j *meter.Journal, t time.Time, maxGap time.Duration) bool {
	before, after := readingsAround(j, t, maxGap)
	if before.Equal(t) {
		return true
	}
	return !before.IsZero() && !after.IsZero() && after.Sub(before) <= maxGap
}

// readingsAround returns the times of the journal's last reading at or
// before t and its first after t, each zero if none is within window of t.
func readingsAround(j *meter.Journal, t time.Time, window time.Duration) (before, after time.Time) {
	_ = j.Scan(t.Add(-window), t.Add(window), func(e meter.Entry) bool {
		if !e.Reading.Time.After(t) {
			before = e.Reading.Time
			return true
		}
		after = e.Reading.Time
		return false
	})
	return before, after
}

func (a *agent) sign(tx chain.Tx) chain.Tx {
	tx.ChainID = a.n.gen.ChainID
	tx.From = a.n.self
	tx.Nonce = uint64(time.Now().UnixNano()) // unique per transaction, not a protocol time: the real clock
	tx.Sign(a.n.key)
	return tx
}

// tracks reports whether the agent re-sends the transaction itself.
func (a *agent) tracks(h ident.Hash) bool {
	_, ok := a.pending[h]
	return ok
}

func (a *agent) track(tx chain.Tx, until int64, now time.Time) chain.Tx {
	a.pending[tx.Hash()] = &pendingTx{tx: tx, until: until, sent: now}
	return tx
}

// committed forgets the transactions a block included and notes which of
// the agent's orders are in force.
func (a *agent) committed(b chain.Block) {
	for _, tx := range b.Txs {
		h := tx.Hash()
		delete(a.pending, h)
		if tx.Kind != chain.TxOrder || tx.From != a.n.self {
			continue
		}
		if so := a.ordered[tx.Order.Slot]; so != nil && so.order != nil && so.id == h {
			so.confirmed = true
		}
	}
}

// valueLookback is how many cleared slots back value looks for a trade.
const valueLookback = 96

// value is what the battery reckons a stored kWh is worth: the price of the
// last slot that cleared a trade (within the last valueLookback cleared
// slots), or the middle of the tariff before any.
func (a *agent) value(t market.Tariff) unit.Price {
	a.n.mu.RLock()
	defer a.n.mu.RUnlock()
	last := a.n.chain.Status().LastCleared
	for s := last; s >= 0 && s > last-valueLookback; s-- {
		if r, ok := a.n.chain.Result(s); ok && r.Volume > 0 {
			return r.Price
		}
	}
	return (t.Floor + t.Ceiling) / 2
}

// scheduleBattery hands the battery, once a slot it ordered for has
// started and cleared, the part of the home's trades beyond the home's own
// need or surplus: that much is charged from (or discharged to) the grid
// over the slot (battery.go).
func (a *agent) scheduleBattery(ms int64) {
	if a.n.battery == nil {
		return
	}
	g := &a.n.gen
	for s, so := range a.ordered {
		if so.scheduled || so.order == nil || ms < g.SlotStart(s) {
			continue
		}
		so.scheduled = true
		if ms >= g.SlotStart(s+1) {
			continue // too late to carry out
		}
		a.n.mu.RLock()
		r, ok := a.n.chain.Result(s)
		a.n.mu.RUnlock()
		if !ok {
			continue
		}
		var traded unit.Wh
		for _, t := range r.Trades {
			if so.order.Side == market.Buy && t.Buyer == string(a.n.self) || so.order.Side == market.Sell && t.Seller == string(a.n.self) {
				traded += t.Energy
			}
		}
		a.n.battery.schedule(time.UnixMilli(ms), time.UnixMilli(g.SlotStart(s+1)), so.order.Side, traded-min(traded, so.homeWh))
	}
}

// flexWant returns the order for slot s with the flexible load (flexOrder),
// in false if the slot does not start in the load's window. What the load's
// earlier slots of the same window promised (their own and must parts) and
// have not yet planned counts as done.
func (a *agent) flexWant(s unit.Slot, t market.Tariff, st market.Strategy, imp, exp unit.Wh, progress int64) (o chain.Order, homeWh unit.Wh, part *flexPart, ok, in bool) {
	g := &a.n.gen
	fl, window, in := a.n.flex.load(time.UnixMilli(g.SlotStart(s)), time.UnixMilli(g.SlotStart(s+1)), 0)
	if !in {
		return chain.Order{}, 0, nil, false, false
	}
	for s2, so := range a.ordered {
		if s2 < s && so.flex != nil && !so.planned && so.flex.window == window {
			fl.Need = max(fl.Need-so.flex.own-so.flex.must, 0)
		}
	}
	o, homeWh, p, ok := flexOrder(fl, t, st, imp, exp, progress)
	p.window = window
	return o, homeWh, &p, ok, true
}

// planFlex hands the flexible load, once a slot it had a part in has
// started, what it consumes over the slot: what it takes from the home's
// surplus, and what the home bought beyond its own part or, if that is less,
// its must part (bought from the utility if not from the neighbours).
func (a *agent) planFlex(ms int64) {
	if a.n.flex == nil {
		return
	}
	g := &a.n.gen
	for s, so := range a.ordered {
		if so.flex == nil || so.planned || ms < g.SlotStart(s) {
			continue
		}
		so.planned = true
		if ms >= g.SlotStart(s+1) {
			continue // too late to carry out
		}
		var bought unit.Wh
		if so.order != nil && so.order.Side == market.Buy {
			a.n.mu.RLock()
			r, _ := a.n.chain.Result(s)
			a.n.mu.RUnlock()
			for _, t := range r.Trades {
				if t.Buyer == string(a.n.self) {
					bought += t.Energy
				}
			}
		}
		e := so.flex.own + max(bought-min(bought, so.homeWh), so.flex.must)
		a.n.flex.plan(time.UnixMilli(ms), time.UnixMilli(g.SlotStart(s+1)), so.flex.window, e)
	}
}
