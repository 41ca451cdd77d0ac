package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
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
	paths, err := WriteDemoNetwork(t.TempDir(), opts, now)
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

// A home that would trade says, at most once a minute, that it will not
// while its clock is not synchronised, and stops saying so once it is.
func TestUnsyncedClockWarns(t *testing.T) {
	paths := demoNet(t, 1, 1, nil)
	editConfig(t, paths[1], func(c *config.Node) { c.Node.Clock = config.ClockKernel })
	var logs bytes.Buffer
	var synced atomic.Bool
	n, err := Load(context.Background(), paths[1], Options{
		ClockSynced: synced.Load,
		Log:         slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	l := newLoop(n)
	warnings := func() int { return strings.Count(logs.String(), "will not trade or attest until it is") }
	for _, c := range []struct {
		at     time.Duration
		synced bool
		want   int
	}{
		{0, false, 1},
		{30 * time.Second, false, 1},
		{time.Minute, false, 2},
		{3 * time.Minute, true, 2},
	} {
		synced.Store(c.synced)
		l.warnClock(at(c.at))
		if got := warnings(); got != c.want {
			t.Errorf("at %s (synced %v): %d warnings; want %d\n%s", c.at, c.synced, got, c.want, logs.String())
		}
	}
}
