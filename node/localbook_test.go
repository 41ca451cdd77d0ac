package node

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// bookSlot returns the open slot s of n's live book, if it holds orders for it.
func openBookSlot(n *Node, s unit.Slot) (OpenSlot, bool) {
	for _, o := range n.Status().OpenBook {
		if o.Slot == s {
			return o, true
		}
	}
	return OpenSlot{}, false
}

// An order placed on one home appears in another home's live book within a
// second, by the orders topic alone: of the network's two authorities only
// one runs, so no block is ever decided and gossip is the only way.
func TestLiveBookGossip(t *testing.T) {
	paths := demoNet(t, 2, 2, farSlots)
	for _, p := range paths[2:] {
		editConfig(t, p, func(c *config.Node) { c.Trading.Enabled = false })
	}
	start(t, paths[0], Options{})
	a := start(t, paths[2], Options{}).n
	b := start(t, paths[3], Options{}).n
	waitFor(t, "both homes in the orders topic's mesh", 30*time.Second, func() bool {
		return len(a.orders.MeshPeers()) > 0 && len(b.orders.MeshPeers()) > 0
	})
	var slot unit.Slot
	waitFor(t, "an open slot", 10*time.Second, func() bool {
		open := a.Status().OpenSlots
		if len(open) > 2 {
			slot = open[2]
		}
		return len(open) > 2
	})
	tx := sellOrder(a, nodeKey(t, paths[2]), 700, slot)
	placed := time.Now()
	postTx(t, a, tx)
	waitFor(t, "the order in the other home's book", time.Second, func() bool {
		o, ok := openBookSlot(b, slot)
		return ok && o.Orders == 1
	})
	t.Logf("order placed on %s seen in %s's book after %v", a.cfg.Node.Name, b.cfg.Node.Name, time.Since(placed).Round(time.Millisecond))
	o, _ := openBookSlot(b, slot)
	if o.Confirmed != 0 || o.IndicativeVolume != 0 {
		t.Errorf("book of %s: got %+v; want one pending order and nothing crossing", b.cfg.Node.Name, o)
	}
	// A forged copy (another home's order re-signed by nobody) is refused
	// by the topic's validator and never reaches the book.
	forged := tx
	forged.Nonce++
	if v := b.validateOrderGossip(a.host.PublicKey(), forged.Encode()); v.String() != "reject" {
		t.Errorf("validator on a forged order: got %s, want reject", v)
	}
	if v := b.validateOrderGossip(b.host.PublicKey(), tx.Encode()); v.String() != "reject" {
		t.Errorf("validator on an order gossiped by another than its owner: got %s, want reject", v)
	}
}

// The agent starts cautiously and re-prices by replace toward the limit:
// one order at the opening, then a replacement at each ramp step once the
// order in force is confirmed, at most max_replaces, the last at the limit
// before gate closure.
func TestAgentRamp(t *testing.T) {
	// home-3: a home's own order, without a battery's or a car's steps
	// (those ramp by their own rules: market.Battery.Quote, market.Flex.Quote).
	paths := demoNet(t, 3, 1, nil)
	editConfig(t, paths[3], func(c *config.Node) { c.Trading.MaxReplaces = 3 })
	n := loaded(t, paths[3])
	a := newAgent(n)
	g := &n.gen
	s := unit.Slot(0)
	open, gate := g.OpenAt(s), g.GateClosure(s)
	strategy := market.Strategy{SellMin: n.cfg.Trading.SellMinPrice, BuyMax: n.cfg.Trading.BuyMaxPrice}
	tariff := n.chain.Tariff().Market()

	orderOf := func(txs []chain.Tx) *chain.Tx {
		for i := range txs {
			if txs[i].Kind == chain.TxOrder && txs[i].Order.Slot == s {
				return &txs[i]
			}
		}
		return nil
	}
	first := orderOf(a.tick(time.UnixMilli(open)))
	if first == nil {
		t.Fatal("no order at the slot's opening")
	}
	if first.Order.Replaces != nil {
		t.Fatal("the first order replaces something")
	}
	cautious := tariff.Ceiling // a seller asks the retail price
	if first.Order.Side == market.Buy {
		cautious = min(tariff.Floor+tariff.Fee, strategy.BuyMax)
	}
	if first.Order.Price != cautious {
		t.Errorf("%s at the opening: got price %d, want the cautious %d", first.Order.Side, first.Order.Price, cautious)
	}
	var prices []unit.Price
	prices = append(prices, first.Order.Price)
	cur := *first
	// Not confirmed yet: no replace, however late.
	if tx := orderOf(a.tick(time.UnixMilli(gate - 1))); tx != nil && tx.Order.Replaces != nil {
		t.Fatal("replaced an order that no block holds yet")
	}
	replaces := 0
	for ms := open; ms < gate; ms += 100 {
		a.committed(chain.Block{Txs: []chain.Tx{cur}})
		tx := orderOf(a.tick(time.UnixMilli(ms)))
		if tx == nil || tx.Order.Replaces == nil {
			continue
		}
		if *tx.Order.Replaces != cur.Hash() {
			t.Fatalf("replace at %d ms names %s, want the order in force %s", ms-open, tx.Order.Replaces, cur.Hash())
		}
		replaces++
		prices = append(prices, tx.Order.Price)
		cur = *tx
	}
	if replaces == 0 || replaces > 3 {
		t.Fatalf("replaces: got %d, want 1..3 (max_replaces)", replaces)
	}
	limit := strategy.SellMin
	if first.Order.Side == market.Buy {
		limit = strategy.BuyMax
	}
	limit = min(max(limit, tariff.Floor), tariff.Ceiling)
	for i := 1; i < len(prices); i++ {
		if first.Order.Side == market.Sell && prices[i] >= prices[i-1] || first.Order.Side == market.Buy && prices[i] <= prices[i-1] {
			t.Fatalf("%s prices %v do not move toward the limit %d", first.Order.Side, prices, limit)
		}
	}
	if got := prices[len(prices)-1]; got != limit {
		t.Errorf("last price before gate closure: got %d, want the limit %d (prices %v)", got, limit, prices)
	}
	if mine := a.myOrders()[s]; mine == nil || mine.Replaced != replaces || mine.Price != prices[len(prices)-1] {
		t.Errorf("status order: got %+v, want %d replaces at %d", mine, replaces, prices[len(prices)-1])
	}
}

// The book merges pending orders with what blocks confirm: a pending
// replacement withdraws the order it replaces even while the chain still
// lists it, a cancel likewise, and the per-owner limit holds for pending
// orders; the gate check compares the figures at gate closure with the
// clearing.
func TestLocalBookMerge(t *testing.T) {
	g := &chain.Genesis{ChainID: "t", SlotSeconds: 60, OpenLeadSeconds: 600, GateLeadSeconds: 60, Params: market.Params{KPPM: 500_000}}
	tariff := market.Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 10_000}
	const s = unit.Slot(10)
	now := g.OpenAt(s)
	b := newLocalBook(g, tariff)
	ord := func(id, owner string, side market.Side, e unit.Wh, p unit.Price) market.Order {
		return market.Order{ID: id, Owner: owner, Side: side, Slot: s, Energy: e, Price: p, Height: 1}
	}
	hA, hB := ident.Hash{0xa1}, ident.Hash{0xb1}
	sellA := ord(hA.String(), "ana", market.Sell, 400, 100_000)
	buyB := ord(hB.String(), "ben", market.Buy, 300, 200_000)
	onChain := []market.Order{sellA, buyB}
	chainOrders := func(unit.Slot) []market.Order { return onChain }
	b.confirm([]unit.Slot{s}, chainOrders, tariff)
	check := func(what string, orders int, price unit.Price, vol unit.Wh) {
		t.Helper()
		open, _ := b.status()
		if len(open) != 1 || open[0].Orders != orders || open[0].IndicativePrice != price || open[0].IndicativeVolume != vol {
			t.Fatalf("%s: got %+v, want %d orders, %d at %d Wh", what, open, orders, price, vol)
		}
	}
	// k = 0.5: ask 100,000 + fee 10,000, bid 200,000 → 155,000.
	check("two confirmed", 2, 155_000, 300)

	// ana replaces her sell (tx hash a2 in the book), pending.
	key := nodeTestKey(t)
	repl := chain.Tx{ChainID: "t", Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Order: &chain.Order{Side: market.Sell, Slot: s, Energy: 200, Price: 150_000, Replaces: &hA}}
	b.pending(repl, now)
	check("pending replacement", 2, 180_000, 200)
	b.confirm([]unit.Slot{s}, chainOrders, tariff) // a block without it: a1 is still on chain
	check("replaced order still on chain", 2, 180_000, 200)
	// ben cancels, pending.
	b.pending(chain.Tx{Kind: chain.TxCancel, Cancel: &chain.Cancel{Order: hB}}, now)
	b.confirm([]unit.Slot{s}, chainOrders, tariff)
	check("cancelled order still on chain", 1, 0, 0)

	// Per-owner limit on pending orders.
	for i := range bookOwnerOrders + 2 {
		tx := repl
		tx.Nonce = uint64(i + 1)
		tx.Order = &chain.Order{Side: market.Buy, Slot: s, Energy: 10, Price: 100_000}
		b.pending(tx, now)
	}
	if open, _ := b.status(); open[0].Orders != bookOwnerOrders || b.drops != 3 {
		t.Fatalf("owner limit: got %d orders, %d dropped; want %d and 3", open[0].Orders, b.drops, bookOwnerOrders)
	}

	// Gate closure and clearing.
	b.gate(g.GateClosure(s))
	if open, gates := b.status(); len(open) != 0 || len(gates) != 1 || gates[0].Cleared {
		t.Fatalf("after gate closure: got %+v, %+v; want no open slot and one uncleared check", open, gates)
	}
	b.cleared(s, market.Result{Slot: s, Price: 1, Volume: 2}, nil)
	if _, gates := b.status(); !gates[0].Cleared || gates[0].ClearedPrice != 1 || gates[0].SameOrders {
		t.Fatalf("after clearing: got %+v; want cleared at 1, not the same orders", gates[0])
	}
}

func nodeTestKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A home that restarts re-prices the order it placed before, found on
// chain, instead of placing a second one for the slot.
func TestAgentAdoptsAfterRestart(t *testing.T) {
	paths := demoNet(t, 1, 1, nil)
	n := loaded(t, paths[1])
	s := unit.Slot(0)
	open := n.gen.OpenAt(s)
	var first *chain.Tx
	for _, tx := range newAgent(n).tick(time.UnixMilli(open)) {
		if tx.Kind == chain.TxOrder {
			first = &tx
		}
	}
	if first == nil {
		t.Fatal("no order at the slot's opening")
	}
	blk, errs := n.chain.Propose(open+10, n.gen.Authorities[0], []chain.Tx{*first})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, err := n.chain.Commit(blk, nil); err != nil {
		t.Fatal(err)
	}
	again := newAgent(n) // the node restarted
	var replaces []chain.Tx
	for ms := open + 100; ms < n.gen.GateClosure(s); ms += 100 {
		for _, tx := range again.tick(time.UnixMilli(ms)) {
			if tx.Kind != chain.TxOrder {
				continue
			}
			if tx.Order.Replaces == nil {
				t.Fatalf("after a restart at %d ms: a second order for %s, want a replacement of %s", ms-open, s, first.Hash())
			}
			replaces = append(replaces, tx)
		}
		if len(replaces) > 0 {
			break
		}
	}
	if len(replaces) == 0 || *replaces[0].Order.Replaces != first.Hash() {
		t.Fatalf("after a restart: got %d replacements, want one replacing %s", len(replaces), first.Hash())
	}
}

// TestLocalBookCurves: a curve order heard before any block counts step by
// step, so the indicative price and volume are market.ClearCurves' for the
// same book; a replacement withdraws every step of the curve it replaces.
func TestLocalBookCurves(t *testing.T) {
	g := &chain.Genesis{ChainID: "t", SlotSeconds: 60, OpenLeadSeconds: 600, GateLeadSeconds: 60, Params: market.Params{KPPM: 500_000}}
	tariff := market.Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 10_000}
	const s = unit.Slot(10)
	now := g.OpenAt(s)
	b := newLocalBook(g, tariff)
	sell := chain.Tx{ChainID: "t", Kind: chain.TxOrder, From: "ana", Order: &chain.Order{Side: market.Sell, Slot: s, Energy: 500, Price: 100_000}}
	curve := chain.CurveOrder(market.Curve{Side: market.Buy, Slot: s, Steps: []market.Step{{Energy: 200, Price: 250_000}, {Energy: 200, Price: 140_000}, {Energy: 300, Price: 100_000}}})
	buy := chain.Tx{ChainID: "t", Kind: chain.TxOrder, From: "bat", Order: &curve}
	b.pending(sell, now)
	b.pending(buy, now)
	want := market.ClearCurves(s,
		[]market.Order{{ID: sell.Hash().String(), Owner: "ana", Side: market.Sell, Slot: s, Energy: 500, Price: 100_000}},
		[]market.Curve{{ID: buy.Hash().String(), Owner: "bat", Side: market.Buy, Slot: s, Steps: []market.Step{{Energy: 200, Price: 250_000}, {Energy: 200, Price: 140_000}, {Energy: 300, Price: 100_000}}}},
		tariff, g.Params)
	open, _ := b.status()
	if len(open) != 1 || open[0].IndicativePrice != want.Price || open[0].IndicativeVolume != want.Volume {
		t.Fatalf("indicative with a curve: got %+v, want ClearCurves' %d at %d Wh", open, want.Price, want.Volume)
	}
	if want.Volume != 400 {
		t.Fatalf("ClearCurves volume %d, want 400 (two steps cross, the third does not cover ask + fee)", want.Volume)
	}
	// A plain order replaces the curve: all three steps leave the book.
	old := buy.Hash()
	repl := chain.Tx{ChainID: "t", Kind: chain.TxOrder, From: "bat", Nonce: 2, Order: &chain.Order{Side: market.Buy, Slot: s, Energy: 100, Price: 200_000, Replaces: &old}}
	b.pending(repl, now)
	open, _ = b.status()
	if len(open) != 1 || open[0].Orders != 2 || open[0].IndicativeVolume != 100 {
		t.Fatalf("after the replace: got %+v, want 2 orders clearing 100 Wh", open)
	}
}

// TestRampMargin: the ramp's last step (the limit) is due 10 s before gate
// closure on a 15-minute network, and a quarter of the order window before
// it on a network with very short slots; steps before it are equal shares of
// the window.
func TestRampMargin(t *testing.T) {
	for _, c := range []struct {
		name   string
		g      chain.Genesis
		margin int64 // ms before gate closure
	}{
		{"15-minute slots", chain.Genesis{SlotSeconds: 900, OpenLeadSeconds: 3600, GateLeadSeconds: 60}, 10_000},
		{"4-second slots", chain.Genesis{SlotSeconds: 4, OpenLeadSeconds: 8, GateLeadSeconds: 1}, 1_750}, // (8 − 1) s / 4
	} {
		s := unit.Slot(5)
		open, gate := c.g.OpenAt(s), c.g.GateClosure(s)
		end := gate - c.margin
		if got := rampStep(&c.g, s, end-1, 3); got != 2 {
			t.Errorf("%s: step 1 ms before the limit is due: got %d, want 2", c.name, got)
		}
		if got := rampStep(&c.g, s, end, 3); got != 3 {
			t.Errorf("%s: step %d ms before gate closure: got %d, want 3 (the limit)", c.name, c.margin, got)
		}
		if got := rampStep(&c.g, s, open+(end-open+2)/3, 3); got != 1 {
			t.Errorf("%s: step a third of the way: got %d, want 1", c.name, got)
		}
		if got := rampStep(&c.g, s, end, 0); got != 0 {
			t.Errorf("%s: max_replaces 0: step %d, want 0 (the limit at once)", c.name, got)
		}
	}
}

// TestAgentNoRamp: with max_replaces = 0 the agent places its order at the
// homeowner's limit at once and never replaces it.
func TestAgentNoRamp(t *testing.T) {
	paths := demoNet(t, 3, 1, nil)
	editConfig(t, paths[3], func(c *config.Node) { c.Trading.MaxReplaces = 0 }) // home-3: no battery, no car
	n := loaded(t, paths[3])
	a := newAgent(n)
	s := unit.Slot(0)
	open, gate := n.gen.OpenAt(s), n.gen.GateClosure(s)
	var first *chain.Tx
	for _, tx := range a.tick(time.UnixMilli(open)) {
		if tx.Kind == chain.TxOrder && tx.Order.Slot == s {
			first = &tx
		}
	}
	if first == nil {
		t.Fatal("no order at the slot's opening")
	}
	tariff := n.chain.Tariff().Market()
	limit := min(max(n.cfg.Trading.SellMinPrice, tariff.Floor), tariff.Ceiling)
	if first.Order.Side == market.Buy {
		limit = min(n.cfg.Trading.BuyMaxPrice, tariff.Ceiling)
	}
	if first.Order.Price != limit {
		t.Errorf("%s at the opening: price %d, want the limit %d at once", first.Order.Side, first.Order.Price, limit)
	}
	for ms := open; ms < gate; ms += 100 {
		a.committed(chain.Block{Txs: []chain.Tx{*first}})
		for _, tx := range a.tick(time.UnixMilli(ms)) {
			if tx.Kind == chain.TxOrder && tx.Order.Slot == s && tx.Hash() != first.Hash() {
				t.Fatalf("at %d ms: a new order %+v, want none with max_replaces = 0", ms-open, *tx.Order)
			}
		}
	}
}

// TestAgentWaitsForReadingPastSlot: when the sampler has not yet read past a
// slot's end at the time the agent would attest it (a slow meter, a loaded
// machine), the agent waits for that reading instead of taking the missing
// reading for a gap and never attesting the slot; a real gap (a power cut
// across the slot's end) is still not attested.
func TestAgentWaitsForReadingPastSlot(t *testing.T) {
	paths := demoNet(t, 1, 1, nil)
	n := loaded(t, paths[1])
	a := newAgent(n)
	g := n.gen
	attests := func(ms int64) []unit.Slot {
		var out []unit.Slot
		for _, tx := range a.tick(time.UnixMilli(ms)) {
			if tx.Kind == chain.TxAttest {
				out = append(out, tx.Attest.Slot)
			}
		}
		return out
	}
	ordered := func(s unit.Slot) {
		t.Helper()
		for ms := g.OpenAt(s); ms < g.GateClosure(s) && a.ordered[s] == nil; ms += 100 {
			a.tick(time.UnixMilli(ms))
		}
		if a.ordered[s] == nil {
			t.Fatalf("the agent placed no order for slot %d", s)
		}
	}
	read := func(ms int64, wh unit.Wh) {
		t.Helper()
		if err := n.journal.Append(meter.Reading{Time: time.UnixMilli(ms), Import: wh}); err != nil {
			t.Fatal(err)
		}
	}
	step := n.cfg.Meter.Interval.Duration.Milliseconds()
	s := unit.Slot(1)
	ordered(s)
	ordered(s + 1)
	start, end := g.SlotStart(s), g.SlotStart(s+1)
	for ms := start - step; ms < end; ms += step {
		read(ms, unit.Wh(ms-start+step))
	}
	late := end + 5*step // past the grace of two intervals, no reading after the end yet
	if got := attests(late); len(got) != 0 {
		t.Fatalf("at %d ms past slot %d's end with no reading after it: attested %v, want none yet", late-end, s, got)
	}
	read(late+step, unit.Wh(late+step-start+step))
	if got := attests(late + step); len(got) != 1 || got[0] != s {
		t.Errorf("once the meter was read past slot %d's end: attested %v, want [%d]", s, got, s)
	}
	// Slot s+1: the next reading comes long after its end (a power cut).
	end2 := g.SlotStart(s + 2)
	back := end2 + n.maxReadGap().Milliseconds() + 10*step
	read(back, unit.Wh(back-start+step))
	if got := attests(back + step); len(got) != 0 {
		t.Errorf("slot %d, whose end no reading came near (the next %d ms after it): attested %v, want none", s+1, back-end2, got)
	}
}
