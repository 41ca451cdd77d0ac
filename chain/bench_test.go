package chain

import (
	"testing"

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
