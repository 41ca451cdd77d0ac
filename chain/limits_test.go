package chain

import (
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// TestFullBlockFitsOneTransaction: a block of MaxBlockTxs orders, the clearing
// and settlement of that slot and the pruning afterwards each commit in one
// badger transaction on a disk store (tuned as for a Pi), and the store reopens.
func TestFullBlockFitsOneTransaction(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("skipped with -short and -race: signs and verifies 4,000 transactions; about sizes, not concurrency")
	}
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	defer func() { c.Close() }()
	const s = unit.Slot(10)
	txs := make([]Tx, MaxBlockTxs+1)
	for i := range txs {
		k, side, p := kAlice, market.Sell, unit.Price(60_000+i*10)
		if i%2 == 1 {
			k, side, p = kBob, market.Buy, unit.Price(290_000-i*10)
		}
		txs[i] = orderTx(k, side, s, unit.Wh(1+i%50), p, uint64(i))
	}
	b, errs := c.Propose(ms(s, -200), kAuth.acct, txs)
	if len(b.Txs) != MaxBlockTxs || errs[MaxBlockTxs] != ErrBlockFull {
		t.Fatalf("block holds %d txs (last error %v), want %d and ErrBlockFull", len(b.Txs), errs[MaxBlockTxs], MaxBlockTxs)
	}
	if _, err := c.Commit(b, nil); err != nil {
		t.Fatalf("Commit(full block): %v", err)
	}
	_, evs := produce(t, c, ms(s, -60))
	if cl := evs[0].(SlotCleared); len(cl.Result.Trades) < 500 {
		t.Fatalf("cleared %d trades, want many", len(cl.Result.Trades))
	}
	produce(t, c, ms(s, 61), attestTx(kAlice, s, 0, 10_000), attestTx(kBob, s, 10_000, 0))
	produce(t, c, ms(s, 120)) // settles and starts pruning
	if got := countPrefix(c, "o/"); got == 0 || got == MaxBlockTxs {
		t.Fatalf("after settlement %d orders left in state, want pruning under way", got)
	}
	// A full block while pruning goes on: the worst case for one transaction.
	more := make([]Tx, MaxBlockTxs)
	for i := range more {
		more[i] = orderTx(kCarol, market.Buy, s+4, unit.Wh(1+i), 100_000, uint64(i))
	}
	produce(t, c, ms(s, 121), sign(kAuth, Tx{Admit: &Admit{Participant: kCarol.acct}}))
	produce(t, c, ms(s, 122), more...)
	for i := range 4 {
		produce(t, c, ms(s, 123+int64(i)))
	}
	if got := countPrefix(c, "o/"+slotKey(s)) + countPrefix(c, "s/"+slotKey(s)); got != 0 {
		t.Fatalf("%d order/attestation entries of slot %d left after pruning, want 0", got, s)
	}
	if got, want := countPrefix(c, "t/"), MaxBlockTxs+1; got != want {
		t.Fatalf("%d tx records, want %d (slot %d's orders and the admission)", got, want, s+4)
	}
	if s := sumBalances(c.Balances()); s != 0 {
		t.Fatalf("balances sum to %d", s)
	}
	want := c.Status()
	c.Close()
	c = openDir(t, dir, g)
	if c.Status() != want {
		t.Fatalf("reopened status %+v, want %+v", c.Status(), want)
	}
}

func countPrefix(c *Chain, p string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, kd := range listOf(c.st.keys) {
		if strings.HasPrefix(kd.key, p) {
			n++
		}
	}
	return n
}

// TestPruneBudget: pruning deletes at most the budget per block, oldest slot
// first, and never touches unsettled slots.
func TestPruneBudget(t *testing.T) {
	st := newState(testGenesis())
	for _, sl := range []unit.Slot{5, 6} {
		ss := st.slot(sl)
		for i := range 10 {
			h := ident.Hash{byte(sl), byte(i)}
			ss.orders.set(h.String(), orderRec{Order: market.Order{ID: h.String()}})
			st.txs.set(h, txRec{Kind: TxOrder, Slot: sl})
		}
	}
	st.settled[5] = newSettled(market.Settlement{Slot: 5})
	st.prune(3 * 4)
	if ss, _ := st.slots.get(5); ss.orders.len() != 6 {
		t.Fatalf("after one prune of budget 12: %d orders left in slot 5, want 6", ss.orders.len())
	}
	st.prune(100)
	if st.slots.has(5) {
		t.Fatalf("slot 5 still present after pruning")
	}
	if ss, _ := st.slots.get(6); ss.orders.len() != 10 || st.txs.len() != 10 {
		t.Fatalf("unsettled slot 6 has %d orders, %d tx records; want 10, 10", ss.orders.len(), st.txs.len())
	}
}
