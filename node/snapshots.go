package node

import (
	"context"
	"time"

	"github.com/gridmesh/gridmesh/node/statesync"
	"github.com/gridmesh/gridmesh/wire"
)

// State sync (node/statesync). Every node serves snapshots: it takes one at
// start and at every height that is a multiple of snapshotEvery
// (Options.SnapshotEvery), holding the last two (a badger read transaction
// each, no copy). A home with [network] state_sync on (the default) that
// finds itself more than stateSyncBehind blocks (Options.StateSyncBehind)
// behind the height an authority told it of joins from a snapshot instead
// of replaying the blocks: the loop runs statesync.Run, the status shows
// its progress under state_sync, the log has a line per tenth of the
// entries, and afterwards the home follows blocks from the snapshot's
// height. A failed attempt is tried again after stateSyncRetry; meanwhile
// the home follows by blocks. Authorities never state-sync: they archive
// every block.

const (
	snapshotEvery   = 256
	stateSyncBehind = 1000
	stateSyncRetry  = time.Minute
)

// registerSnapshots serves snapshot/1 and takes the first snapshot.
func (n *Node) registerSnapshots() {
	n.snaps = &statesync.Server{}
	n.host.Handle(wire.SnapProto, wire.SnapRequestBytes, n.snaps.Handle)
	n.takeSnapshot()
}

// takeSnapshot adds a snapshot of the committed head to those served.
func (n *Node) takeSnapshot() {
	if n.chain.Status().Height == 0 {
		return
	}
	sn, err := n.chain.TakeSnapshot()
	if err != nil {
		n.log.Warn("take a state snapshot", "err", err)
		return
	}
	n.snaps.Add(sn)
}

// snapshotAfter takes a snapshot after block h when h is on the interval.
func (n *Node) snapshotAfter(h uint64) {
	if h%n.snapshotEvery == 0 {
		n.takeSnapshot()
	}
}

// stateSyncDue reports whether this node would join from a snapshot, the
// chain being at head: a home with state sync on, more than
// stateSyncBehind blocks behind, not having tried in the last
// stateSyncRetry.
func (l *loop) stateSyncDue(head uint64) bool {
	n := l.n
	if n.isAuthority || !n.cfg.Network.StateSync || head <= n.chain.Status().Height+n.stateSyncBehind {
		return false
	}
	return l.stateSyncAt.IsZero() || time.Since(l.stateSyncAt) >= stateSyncRetry
}

// maybeStateSync state-syncs a home that is far behind; it reports whether
// it tried (the loop then asks for blocks at its next turn).
func (l *loop) maybeStateSync(ctx context.Context) bool {
	n := l.n
	h := n.chain.Status().Height
	if !l.stateSyncDue(n.bestSeen.Load()) {
		return false
	}
	l.stateSyncAt = time.Now()
	n.log.Info("state sync: far behind, joining from a snapshot", "height", h, "chain", n.bestSeen.Load())
	p, err := statesync.Run(ctx, statesync.Config{
		Host: n.host, Chain: n.chain, Peers: n.host.Peers(), Log: n.log,
		Verify: n.verifyCertified,
		OnProgress: func(p statesync.Progress) {
			n.syncProgress.Store(&p)
			if n.opts.Heartbeat != nil {
				n.opts.Heartbeat() // the loop is busy here, not stuck
			}
		},
	})
	n.syncProgress.Store(&p)
	if err != nil {
		n.log.Warn("state sync failed; following by blocks", "err", err, "dropped", p.Dropped)
		return true
	}
	// The snapshot's state replaced the chain's: everything the loop built
	// on the old head is rebuilt for the new one.
	if err := l.reconfigure(); err != nil {
		n.log.Warn("after state sync", "err", err)
	}
	n.publishStatus()
	n.notifyHead(n.chain.Status().Height, nil)
	return true
}
