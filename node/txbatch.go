package node

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/gridmesh/gridmesh/chain"
)

// Tx gossip carries batches: a node that accepts many transactions at once (an
// authority behind a utility's submission gateway, or the bench) pays the gossip
// envelope's signature, the message id and the seen-cache once per batch rather
// than once per transaction. A home's single order is a batch of one.
//
//	uvarint count (1..maxBatchTxs) | count × (uvarint len | canonical tx)
//
// Lengths are bounded by chain.MaxTxBytes and nothing may follow the last tx.
const (
	maxBatchTxs   = 512
	maxBatchBytes = 512 << 10 // well under the gossip payload limit
	// batchDelay is how long the first tx of a batch waits for company: the
	// latency it adds is small against a block interval.
	batchDelay  = 15 * time.Millisecond
	txQueueSize = 8192
)

// errBusy: the outgoing tx queue is full; the client should retry.
var errBusy = errors.New("node: too many transactions queued for gossip, retry later")

func encodeTxBatch(raws [][]byte) []byte { return encodeChunks(raws) }

// decodeTxBatch splits a batch into its transactions' encodings (aliasing b).
// It does not decode the transactions.
func decodeTxBatch(b []byte) ([][]byte, error) {
	return splitChunks(b, 1, maxBatchTxs, chain.MaxTxBytes)
}

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

// runBatcher publishes queued transactions in batches: when maxBatchTxs or
// maxBatchBytes are reached, or batchDelay after the first of a batch arrived.
func (n *Node) runBatcher(ctx context.Context) error {
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
		if err := n.txTopic.Publish(ctx, encodeTxBatch(batch)); err != nil && ctx.Err() == nil {
			n.log.Debug("publish txs", "count", len(batch), "err", err)
		}
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
		case tx := <-n.txOut:
			if size+len(tx.raw)+binary.MaxVarintLen64 > maxBatchBytes {
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
			if len(batch) == maxBatchTxs {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}
