package chain

import (
	"fmt"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// BenchmarkProposeCommit: one block of 100 signed orders, proposed (verify,
// execute, state hash) and committed (one badger transaction + sync) on a
// memory store. Reports tx/s.
func BenchmarkProposeCommit(b *testing.B) {
	g := testGenesis()
	c, err := OpenMemory(g)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const perBlock = 100
	now := ms(1000, -290)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		txs := make([]Tx, perBlock)
		for j := range txs {
			txs[j] = orderTx(kAlice, market.Sell, 1000, unit.Wh(j+1), 100_000, uint64(i*perBlock+j))
		}
		b.StartTimer()
		blk, errs := c.Propose(now+int64(i), kAuth.acct, txs)
		if errs[0] != nil {
			b.Fatal(errs[0])
		}
		if _, err := c.Commit(blk, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBlock)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkProposeLargeHistory: an empty block on a state holding a year of
// settled 15-minute slots (35,000, each with 10 trades) and 1,000 participants:
// the fixed per-block cost of cloning and hashing the state.
func BenchmarkProposeLargeHistory(b *testing.B) {
	c, err := OpenMemory(testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	st := c.st.clone()
	for i := range 1000 {
		a := newKey(fmt.Sprint("home", i)).acct
		st.participants.set(a, admission{})
		st.balances.set(a, unit.Money(i+1))
	}
	for sl := range unit.Slot(35_000) {
		trades := make([]market.Trade, 10)
		for j := range trades {
			trades[j] = market.Trade{Slot: sl, Buy: ident.Hash{1}.String(), Sell: ident.Hash{2}.String(), Buyer: string(kBob.acct), Seller: string(kAlice.acct), Energy: 100, Price: 100_000}
		}
		st.cleared[sl] = newCleared(market.Result{Slot: sl, Price: 100_000, Volume: 1000, Trades: trades}, testGenesis().Tariff)
		st.settled[sl] = newSettled(market.Settlement{Slot: sl, Energy: 1000})
	}
	st.commit(st.diff())
	c.st = st
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Propose(ms(40_000, 0)+int64(i), kAuth.acct, nil)
	}
}

// BenchmarkValidateBlock: a follower validates a block of 500 signed orders it
// has not seen before (signature checks on all cores, execution, state hash).
func BenchmarkValidateBlock(b *testing.B) {
	g := testGenesis()
	proposer, _ := OpenMemory(g)
	defer proposer.Close()
	v, _ := OpenMemory(g)
	defer v.Close()
	txs := make([]Tx, 500)
	for j := range txs {
		txs[j] = orderTx(kAlice, market.Sell, 1000, unit.Wh(j+1), 100_000, uint64(j))
	}
	now := ms(1000, -290)
	blk, _ := proposer.Propose(now, kAuth.acct, txs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.mu.Lock()
		clear(v.cache)
		v.mu.Unlock()
		v.verified.mu.Lock()
		v.verified.m = nil
		v.verified.mu.Unlock()
		if err := v.Validate(blk, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(txs))/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkExecuteLargeState: a block of 100 signed orders (signatures checked
// beforehand) proposed and committed on a state of 50,000 processed-tx records
// and 5,000 open orders: the per-block state work (execution, entries, state
// hash, store writes), which should grow with the block, not the state.
func BenchmarkExecuteLargeState(b *testing.B) {
	c, err := OpenMemory(testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	st := c.st.clone()
	for i := range 5000 {
		h := ident.Hash{1, byte(i >> 8), byte(i)}
		sl := unit.Slot(1000 + i%4)
		st.slot(sl).orders.set(h.String(), orderRec{Order: market.Order{ID: h.String(), Owner: string(kBob.acct), Side: market.Buy, Slot: sl, Energy: 100, Price: 100_000, Height: 1}})
		st.txs.set(h, txRec{Height: 1, Kind: TxOrder, Slot: sl})
	}
	for i := range 45_000 {
		h := ident.Hash{2, byte(i >> 16), byte(i >> 8), byte(i)}
		st.txs.set(h, txRec{Height: 1, Kind: TxAttest, Slot: unit.Slot(i % 900)})
	}
	st.commit(st.diff())
	c.st = st
	const perBlock = 100
	now := ms(1000, -290)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		txs := make([]Tx, perBlock)
		for j := range txs {
			txs[j] = orderTx(kAlice, market.Sell, 1000, unit.Wh(j+1), 100_000, uint64(i*perBlock+j))
			if err := c.verified.verify(txs[j]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		blk, errs := c.Propose(now+int64(i), kAuth.acct, txs)
		if errs[0] != nil {
			b.Fatal(errs[0])
		}
		if _, err := c.Commit(blk, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebuildIndexYear: what Open does once for a data directory whose
// account index is of an older version (version 1 had no prices): rebuild it
// from a year of settled 15-minute slots (35,040, each with a trade between
// two homes) on disk, reading each slot's settled and cleared records.
func BenchmarkRebuildIndexYear(b *testing.B) {
	c, err := Open(b.TempDir(), testGenesis())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	wb := c.db.NewWriteBatch()
	for sl := range unit.Slot(35_040) {
		tr := market.Trade{Slot: sl, Buy: ident.Hash{1}.String(), Sell: ident.Hash{2}.String(), Buyer: string(kBob.acct), Seller: string(kAlice.acct), Energy: 100, Price: 100_000}
		res := market.Result{Slot: sl, Price: 100_000, Volume: 100, Trades: []market.Trade{tr}}
		st := market.Settle(sl, res.Trades, nil, testGenesis().Tariff, string(testGenesis().Operator))
		if err := wb.Set([]byte(pfxState+"c/"+slotKey(sl)), newCleared(res, testGenesis().Tariff).enc.v); err != nil {
			b.Fatal(err)
		}
		if err := wb.Set([]byte(pfxState+"d/"+slotKey(sl)), newSettled(st).enc.v); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := c.rebuildIndex(); err != nil {
			b.Fatal(err)
		}
	}
	if got := len(c.Statement(kBob.acct, 0, 35_040)); got != 35_040 {
		b.Fatalf("%d lines after the rebuild; want 35,040", got)
	}
}
