package node

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
)

// ordersTopic is the gossip topic of the live book (/gridmesh/<network>/orders/1):
// every node subscribes, and each home publishes its own orders and cancels
// once, when its pool first takes them. Authorities still get every
// transaction over the txs/1 streams (txbatch.go); the topic is what lets a
// home see its neighbours' orders before a block holds them (localbook.go).
const ordersTopic = "orders"

// validateOrderGossip is the orders topic's validator: an order or a cancel,
// signed by the envelope's signer (a home gossips only its own), that its
// chain would accept now (signature, admitted owner, open slot, tariff
// bounds, not a duplicate: Chain.CheckTx). A payload that is malformed,
// forged or of another kind is rejected (the peer is scored down); one that
// is merely not acceptable now (late, already in a block, a sender this node
// does not know yet) is ignored. Per-signer rates are the host's gossip
// limit; per-owner and per-slot bounds are the book's (localbook.go).
func (n *Node) validateOrderGossip(from ed25519.PublicKey, payload []byte) p2p.Verdict {
	tx, err := chain.DecodeTx(payload)
	if err != nil {
		return n.undecodable(err)
	}
	if tx.Kind != chain.TxOrder && tx.Kind != chain.TxCancel || tx.From != ident.AccountOf(from) {
		n.stats.rejected.Add(1)
		return p2p.Reject
	}
	n.mu.RLock()
	err = n.chain.CheckTx(tx, n.now().UnixMilli())
	n.mu.RUnlock()
	switch {
	case err == nil:
		return p2p.Accept
	case errors.Is(err, chain.ErrSignature), errors.Is(err, chain.ErrTxShape),
		errors.Is(err, chain.ErrAccount), errors.Is(err, chain.ErrTooLarge):
		n.stats.rejected.Add(1)
		return p2p.Reject
	}
	n.stats.ignored.Add(1)
	return p2p.Ignore
}

// runOrders hands the orders heard on the orders topic to the loop (n.bookIn)
// until ctx ends.
func (n *Node) runOrders(ctx context.Context) error {
	for {
		m, err := n.orders.Next(ctx)
		if err != nil {
			return nil // ctx ended or the host closed
		}
		tx, err := chain.DecodeTx(m.Payload) // the validator decoded it once: cannot fail
		if err != nil {
			continue
		}
		send(ctx, n.bookIn, tx)
	}
}

// gossipOrder publishes one of this node's own orders or cancels on the
// orders topic. It is best-effort: a neighbour that misses it sees the order
// when a block holds it.
func (n *Node) gossipOrder(ctx context.Context, tx chain.Tx) {
	if n.orders == nil || tx.From != n.self || tx.Kind != chain.TxOrder && tx.Kind != chain.TxCancel {
		return
	}
	if err := n.orders.Publish(ctx, tx.Encode()); err != nil {
		n.log.Debug("order not gossiped", "err", err)
	}
}
