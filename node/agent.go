package node

import (
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

const (
	agentLookahead = 4               // slots ahead the agent trades
	republishEvery = 2 * time.Second // sending is best-effort: repeat until included
)

// agent trades for a home: for each open slot it places one order from the meter's
// forecast (market.Quote at the homeowner's limit), and after each slot it traded in
// it attests the metered import and export from the journal. Its transactions are
// re-published until a committed block includes them or they can no longer be
// included. Slots before the network's epoch (negative indices) are never traded.
//
// The agent lives in the node's loop goroutine; it is not safe for concurrent use.
type agent struct {
	n        *Node
	ordered  map[unit.Slot]bool
	attested map[unit.Slot]bool
	pending  map[chain.Hash]*pendingTx
}

type pendingTx struct {
	tx    chain.Tx
	until int64 // unix ms after which the chain would refuse it
	sent  time.Time
}

func newAgent(n *Node) *agent {
	return &agent{
		n:        n,
		ordered:  make(map[unit.Slot]bool),
		attested: make(map[unit.Slot]bool),
		pending:  make(map[chain.Hash]*pendingTx),
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
		if a.ordered[s] || ms < g.OpenAt(s) || ms >= g.GateClosure(s) {
			continue
		}
		a.ordered[s] = true
		if tx, ok := a.order(s); ok {
			out = append(out, a.track(tx, g.GateClosure(s), now))
		}
	}
	// Attest a slot once the sampler has read past its end.
	grace := 2 * a.n.cfg.Meter.Interval.Duration.Milliseconds()
	for s := range a.ordered {
		if a.attested[s] || ms < g.SlotStart(s+1)+grace || ms >= g.SettleAt(s) {
			continue
		}
		a.attested[s] = true
		if tx, ok := a.attest(s); ok {
			out = append(out, a.track(tx, g.SettleAt(s), now))
		}
	}
	for h, p := range a.pending {
		switch {
		case ms >= p.until:
			delete(a.pending, h)
		case now.Sub(p.sent) >= republishEvery:
			p.sent = now
			out = append(out, p.tx)
		}
	}
	// Forget slots long settled.
	for s := range a.ordered {
		if ms >= g.SettleAt(s)+g.SlotSeconds*1000 {
			delete(a.ordered, s)
			delete(a.attested, s)
		}
	}
	return out
}

func (a *agent) order(s unit.Slot) (chain.Tx, bool) {
	g := a.n.gen
	from := time.UnixMilli(g.SlotStart(s))
	to := time.UnixMilli(g.SlotStart(s + 1))
	imp, exp := a.n.forecast.Forecast(from, to)
	strategy := market.Strategy{SellMin: a.n.cfg.Trading.SellMinPrice, BuyMax: a.n.cfg.Trading.BuyMaxPrice}
	a.n.mu.RLock()
	tariff := a.n.chain.Tariff().Market()
	a.n.mu.RUnlock()
	side, energy, price, ok := market.Quote(tariff, strategy, imp, exp, 1_000_000)
	if !ok {
		return chain.Tx{}, false
	}
	return a.sign(chain.Tx{Kind: chain.TxOrder, Order: &chain.Order{Side: side, Slot: s, Energy: energy, Price: price}}), true
}

func (a *agent) attest(s unit.Slot) (chain.Tx, bool) {
	g := a.n.gen
	imp, exp, ok := a.n.journal.Energy(time.UnixMilli(g.SlotStart(s)), time.UnixMilli(g.SlotStart(s+1)))
	if !ok {
		a.n.log.Warn("no attestation: the meter journal does not cover the slot", "slot", s)
		return chain.Tx{}, false
	}
	return a.sign(chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: s, Import: imp, Export: exp, Journal: chain.Hash(a.n.journal.Head())}}), true
}

func (a *agent) sign(tx chain.Tx) chain.Tx {
	tx.ChainID = a.n.gen.ChainID
	tx.From = a.n.self
	tx.Nonce = uint64(time.Now().UnixNano()) // unique per transaction, not a protocol time: the real clock
	tx.Sign(a.n.key)
	return tx
}

// tracks reports whether the agent re-sends the transaction itself.
func (a *agent) tracks(h chain.Hash) bool {
	_, ok := a.pending[h]
	return ok
}

func (a *agent) track(tx chain.Tx, until int64, now time.Time) chain.Tx {
	a.pending[tx.Hash()] = &pendingTx{tx: tx, until: until, sent: now}
	return tx
}

// committed forgets the transactions a block included.
func (a *agent) committed(b chain.Block) {
	if len(a.pending) == 0 {
		return
	}
	for _, tx := range b.Txs {
		delete(a.pending, tx.Hash())
	}
}
