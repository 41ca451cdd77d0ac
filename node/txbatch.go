package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// Transactions travel in batches: a node that accepts many at once (an
// authority behind a utility's submission gateway, or the bench) pays the
// framing and the sending once per batch rather than once per transaction. A
// home's single order is a batch of one.
//
// Batches go straight to the authorities over txs/1 (p2p.Send), not by
// gossip: among four authorities, gossip delivered each batch about three
// times. A home sends each batch to one authority, picked at random each time
// (its agent re-sends what is not in a block within 2 s, so a batch lost with
// an authority reaches another). An authority sends its own batches to every
// other authority and relays, once, a batch that a non-authority sent it; a
// batch from an authority is not relayed. Only authorities serve txs/1.
//
// The layout and limits of txs/1 are in package wire.
const (
	// batchDelay is how long the first tx of a batch waits for company: the
	// latency it adds is small against a block interval.
	batchDelay  = 15 * time.Millisecond
	txQueueSize = 8192
	txRate      = 100 // batches per second one peer may send an authority (a busy authority sends ~70)
)

// errBusy: the outgoing tx queue is full; the client should retry.
var errBusy = errors.New("node: too many transactions queued to send, retry later")

// outTx is a checked transaction waiting for gossip; done (if not nil) is
// closed once the batch holding it was handed to gossip.
type outTx struct {
	raw  []byte
	done chan struct{}
}

// publishTx queues a checked transaction for gossip without waiting; errBusy
// when the queue is full.
func (n *Node) publishTx(raw []byte) error { return n.enqueue(outTx{raw: raw}) }

// publishTxWait queues a checked transaction and waits until its batch has been
// published, so that an HTTP client's 202 means the transaction left this node
// (a node killed a moment later loses nothing it acknowledged).
func (n *Node) publishTxWait(ctx context.Context, raw []byte) error {
	tx := outTx{raw: raw, done: make(chan struct{})}
	if err := n.enqueue(tx); err != nil {
		return err
	}
	select {
	case <-tx.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) enqueue(tx outTx) error {
	select {
	case n.txOut <- tx:
		return nil
	default:
		return errBusy
	}
}

// runBatcher hands the transactions queued on in to send in batches
// (wire.EncodeTxBatch): when wire.MaxBatchTxs or wire.MaxBatchBytes are
// reached, or batchDelay after the first of a batch arrived.
func runBatcher(ctx context.Context, in <-chan outTx, send func(batch []byte)) error {
	var (
		batch   [][]byte
		waiting []chan struct{}
		size    int
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		send(wire.EncodeTxBatch(batch))
		for _, w := range waiting {
			close(w)
		}
		batch, waiting, size = batch[:0], waiting[:0], 0
		timer.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case tx := <-in:
			if size+len(tx.raw)+binary.MaxVarintLen64 > wire.MaxBatchBytes {
				flush()
			}
			if len(batch) == 0 {
				timer.Reset(batchDelay)
			}
			batch = append(batch, tx.raw)
			if tx.done != nil {
				waiting = append(waiting, tx.done)
			}
			size += len(tx.raw) + binary.MaxVarintLen64
			if len(batch) == wire.MaxBatchTxs {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// sendTxBatch sends a batch to the authorities: from a home, to one of them
// (a connected one, at random); from an authority, to every other
// one except skip (the authority it came from, if any). A home picks the
// authority at random: the agent re-sends its pending transactions every 2 s
// in a fixed number of batches, so a rotation by batch could send one
// transaction to the same authorities every time (with 2 batches a round and
// 4 authorities, always the same 2).
func (n *Node) sendTxBatch(ctx context.Context, b []byte, skip ed25519.PublicKey) {
	n.sendTxBatchTurn(ctx, b, skip, -1)
}

// sendTxBatchTurn is sendTxBatch with a home's choice of authority given:
// the turn-th (modulo their number), or, for a negative turn, one picked at
// random (Options.Choose).
func (n *Node) sendTxBatchTurn(ctx context.Context, b []byte, skip ed25519.PublicKey, turn int) {
	var to []string
	for _, a := range n.nearAuthorities() {
		if a == n.self || skip != nil && a == ident.AccountOf(skip) {
			continue
		}
		if id, err := peerIDOf(a); err == nil {
			to = append(to, id)
		}
	}
	if !n.isAuthority && len(to) > 1 {
		// Prefer an authority we are connected to; the turn-th of them.
		var up []string
		connected := n.host.Peers()
		for _, id := range to {
			if slices.Contains(connected, id) {
				up = append(up, id)
			}
		}
		if len(up) == 0 {
			up = to
		}
		if turn < 0 {
			turn = n.opts.Choose(len(up))
		}
		to = up[turn%len(up):][:1]
	}
	for _, id := range to {
		if err := n.host.Send(id, wire.TxProto, b); err != nil && ctx.Err() == nil {
			n.log.Debug("send txs", "to", id, "err", err)
		}
	}
}

// receiveTxs takes a batch sent to this authority: checked (rejected or
// ignored batches are counted there), its acceptable transactions handed to
// the loop and, if a non-authority sent it, relayed to the other authorities
// (only those: the others would cost every authority a signature check).
func (n *Node) receiveTxs(ctx context.Context, from ed25519.PublicKey, payload []byte) p2p.Verdict {
	v, txs, raws := n.checkTxBatch(payload)
	if v != p2p.Accept {
		return v // Reject scores the peer down (p2p.HandleMessages)
	}
	if !n.isNearAuthority(from) {
		n.sendTxBatch(ctx, wire.EncodeTxBatch(raws), from)
	}
	for _, tx := range txs {
		send(ctx, n.txIn, tx)
	}
	return p2p.Accept
}

// checkTxBatch checks a batch of transactions a peer sent (receiveTxs). A
// batch that does not decode, or holds a transaction that does not decode or
// is not signed by its sender, is rejected (an honest node checks what it
// sends). A batch none of whose transactions is acceptable now (late,
// duplicate, unknown sender) is ignored; otherwise it is accepted with its
// acceptable transactions and their encodings (the loop drops the others).
// Rejections and ignored batches are counted in the status.
func (n *Node) checkTxBatch(payload []byte) (p2p.Verdict, []chain.Tx, [][]byte) {
	raws, err := wire.DecodeTxBatch(payload)
	if err != nil {
		n.stats.rejected.Add(1)
		return p2p.Reject, nil, nil
	}
	all := make([]chain.Tx, len(raws))
	for i, raw := range raws {
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			return n.undecodable(err), nil, nil
		}
		all[i] = tx
	}
	// CheckTxs verifies the signatures first, on all cores (remembered by
	// hash, so the loop and the block validation do not verify them again).
	n.mu.RLock()
	errs := n.chain.CheckTxs(all, n.now().UnixMilli())
	n.mu.RUnlock()
	var txs []chain.Tx
	var ok [][]byte
	for i, err := range errs {
		switch {
		case err == nil:
			txs, ok = append(txs, all[i]), append(ok, raws[i])
		case errors.Is(err, chain.ErrSignature), errors.Is(err, chain.ErrTxShape),
			errors.Is(err, chain.ErrAccount), errors.Is(err, chain.ErrTooLarge):
			n.stats.rejected.Add(1)
			return p2p.Reject, nil, nil
		}
	}
	if len(ok) == 0 {
		n.stats.ignored.Add(1)
		return p2p.Ignore, nil, nil
	}
	return p2p.Accept, txs, ok
}
