package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
)

// A home whose clock is not synchronised places no order and attests nothing; once
// the kernel reports synchronisation it trades.
func TestAgentWaitsForClock(t *testing.T) {
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 1, 1
	now := time.Now()
	paths, err := writeDemoNetwork(t.TempDir(), opts, now)
	if err != nil {
		t.Fatal(err)
	}
	editConfig(t, paths[1], func(c *config.Node) { c.Node.Clock = config.ClockKernel })
	var synced atomic.Bool
	n, err := Load(context.Background(), paths[1], Options{ClockSynced: synced.Load})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	a := newAgent(n)
	open := time.UnixMilli(n.gen.OpenAt(0))
	if txs := a.tick(open); len(txs) != 0 {
		t.Fatalf("unsynchronised clock: agent produced %d txs; want none", len(txs))
	}
	if n.Status().ClockSynced {
		t.Error("status says clock_synced with an unsynchronised kernel clock")
	}
	synced.Store(true)
	txs := a.tick(open)
	if len(txs) != 1 || txs[0].Kind != chain.TxOrder || txs[0].Order.Slot != 0 {
		t.Fatalf("synchronised clock at slot 0's opening: got %d txs %+v; want one order for slot 0", len(txs), txs)
	}
}
