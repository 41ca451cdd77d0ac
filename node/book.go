package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/wire"
)

// The open order book of a node is what its chain holds for the open slots plus
// its mempool: orders, cancels and attestations accepted but not yet in a block.
// Sending transactions is best-effort (a node that joins, restarts or comes
// back from a partition missed what was sent meanwhile), so every authority
// asks each peer it newly connects to for that peer's mempool over the book
// protocol, checks every transaction as if a peer had sent it, and keeps the acceptable
// ones. The chain part comes by block sync. Together they make "every order
// accepted on either side of a partition reaches every authority, and so a
// block that every node syncs" a protocol property, not luck. Homes serve their
// mempool (their own pending transactions) but do not fetch books.
//
// The layout and limits of book/1 are in package wire.
const (
	bookTimeout = 5 * time.Second
	bookTries   = 5
)

// serveBook answers a book request with this node's mempool, oldest first.
func (n *Node) serveBook(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
	if len(req) != 0 {
		return nil, fmt.Errorf("%w: book request of %d bytes, want 0", wire.ErrMalformed, len(req))
	}
	var raws [][]byte
	size := binary.MaxVarintLen64
	for _, tx := range n.pool.Pending(wire.MaxBookTxs) {
		raw := tx.Encode()
		if size += binary.MaxVarintLen64 + len(raw); size > wire.MaxBookBytes {
			break
		}
		raws = append(raws, raw)
	}
	return wire.EncodeTxList(raws), nil
}

// runBookSync asks every peer this node connects to (at start, after a
// restart, after a partition heals, however briefly) for its mempool: once per
// connection, as a connection that opens is the only sure sign that the peer
// may have missed something.
//
// A home does not fetch books: it keeps only the transactions handed to it
// (its own and those posted to its API) and learns the rest from blocks. A
// home that follows nobody yet is woken to sync instead (wakeSync): its
// first sync round may have come before any connection was up, and the next
// would wait a follow interval (Options.FollowEvery).
func (n *Node) runBookSync(ctx context.Context) error {
	if n.isAuthority {
		for _, p := range n.host.Peers() { // connected before this started
			n.fetchBook(ctx, p)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-n.host.Connected():
			if n.isAuthority {
				n.fetchBook(ctx, p)
			} else if up := n.upstream.Load(); up == nil || *up == "" {
				n.wakeSync()
			}
		}
	}
}

// fetchBook requests one peer's mempool and hands every acceptable transaction
// to the loop. A malformed response ends the fetch; transactions that are not
// acceptable (already in a block, late) are skipped and counted as rejected
// only when their signature or shape is bad.
//
// A request that fails (a connection that a simultaneous dial replaced, a
// stream reset on a loaded host) is tried again, bookTries times in all,
// 1, 2, 4 and 8 s apart, while the peer is still connected: the connection
// event is the only one this fetch gets.
func (n *Node) fetchBook(ctx context.Context, peer string) {
	var resp []byte
	var err error
	for try := 1; ; try++ {
		rctx, cancel := context.WithTimeout(ctx, bookTimeout)
		resp, err = n.host.Request(rctx, peer, wire.BookProto, nil, wire.MaxBookBytes)
		cancel()
		if err == nil {
			break
		}
		n.log.Debug("book request", "peer", peer, "try", try, "err", err)
		if try == bookTries || !slices.Contains(n.host.Peers(), peer) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second << (try - 1)):
		}
	}
	raws, err := wire.DecodeTxList(resp)
	if err != nil {
		n.stats.rejected.Add(1)
		n.log.Warn("malformed book response", "peer", peer, "err", err)
		return
	}
	added := 0
	now := n.now().UnixMilli()
	for _, raw := range raws {
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			n.undecodable(err)
			n.log.Warn("malformed tx in book response", "peer", peer, "err", err)
			return
		}
		if n.pool.Has(tx.Hash()) {
			continue
		}
		n.mu.RLock()
		err = n.chain.CheckTx(tx, now)
		n.mu.RUnlock()
		if err != nil {
			n.log.Debug("book tx not acceptable", "peer", peer, "err", err)
			continue
		}
		select {
		case n.txIn <- tx:
			added++
		case <-ctx.Done():
			return
		}
	}
	if added > 0 {
		n.log.Info("mempool transactions fetched from a peer", "peer", peer, "count", added, "offered", len(raws))
	} else {
		n.log.Debug("book fetched, nothing new", "peer", peer, "offered", len(raws))
	}
}
