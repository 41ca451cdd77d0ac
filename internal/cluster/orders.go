package cluster

import (
	"crypto/ed25519"
	"math/rand/v2"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Orders makes signed order txs from the cluster's accounts: buy or sell, 1 to
// 1,000 Wh, a price within the genesis tariff, for one of slots 2..91 (all open
// from the epoch on, none closing within its first 25 minutes), each with
// its own nonce. It is deterministic in rng.
type Orders struct {
	c     *Cluster
	rng   *rand.Rand
	nonce uint64
}

// NewOrders returns an order maker drawing from seed.
func (c *Cluster) NewOrders(seed uint64) *Orders {
	return &Orders{c: c, rng: rand.New(rand.NewPCG(seed, 0x62656e6368))}
}

// Next returns the next signed order tx.
func (o *Orders) Next() chain.Tx {
	g := o.c.Genesis
	key := o.c.Accounts[o.rng.IntN(len(o.c.Accounts))]
	side := market.Buy
	if o.rng.IntN(2) == 1 {
		side = market.Sell
	}
	o.nonce++
	tx := chain.Tx{
		ChainID: g.ChainID,
		Kind:    chain.TxOrder,
		From:    ident.AccountOf(key.Public().(ed25519.PublicKey)),
		Nonce:   o.nonce,
		Order: &chain.Order{
			Side:   side,
			Slot:   unit.Slot(2 + o.rng.IntN(90)),
			Energy: unit.Wh(1 + o.rng.IntN(1000)),
			Price:  g.Tariff.Floor + unit.Price(o.rng.Int64N(int64(g.Tariff.Ceiling-g.Tariff.Floor)+1)),
		},
	}
	tx.Sign(key)
	return tx
}
