package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/node/nodetest"
	"github.com/gridmesh/gridmesh/unit"
)

// demoNet writes a demo network of the given size (config paths, authorities
// first, then homes) into a temporary directory. edit, if not nil, changes the
// genesis of every node the same way.
func demoNet(t *testing.T, homes, authorities int, edit func(*config.Genesis)) []string {
	t.Helper()
	paths := slotNet(t, homes, authorities, DefaultDemoOptions().Slot)
	if edit != nil {
		nodetest.EditGenesis(t, paths, edit)
	}
	return paths
}

// slotNet is demoNet with slots of the given length and the genesis as the
// demo writes it: short slots (2 s) let a test see slots clear and settle
// within a minute.
func slotNet(t *testing.T, homes, authorities int, slot time.Duration) []string {
	t.Helper()
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities, opts.Slot = homes, authorities, slot
	paths, err := WriteDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// parallelNetwork lets go test run t, a test of a whole network of nodes
// that mostly waits for its slots, beside another such test (at most
// -parallel at once: GOMAXPROCS, 2 on the development machine), so the
// package's tests take about half the time. Such a test must change no
// package variable (TestReleaseAnnounced sets releaseEvery) nor the
// environment (the watchdog tests' t.Setenv); each network has its own
// ports and data, and the demo's nodes find no peer beyond their own
// network (no mDNS).
func parallelNetwork(t *testing.T) {
	t.Helper()
	t.Parallel()
}

// loaded opens the node configured at path without running it; the test's
// cleanup closes it.
func loaded(t *testing.T, path string) *Node {
	t.Helper()
	n, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	t.Cleanup(n.close)
	return n
}

// editConfig and nodeKey are node/nodetest's (EditConfig, NodeKey).
var (
	editConfig = nodetest.EditConfig
	nodeKey    = nodetest.NodeKey
)

// farSlots lets orders be placed an hour ahead, so that none comes too late.
func farSlots(g *config.Genesis) { g.OpenLeadSeconds = 3600 }

// sellOrder is an order of nonce Wh at the floor price for slot, signed by key.
func sellOrder(n *Node, key ed25519.PrivateKey, nonce uint64, slot unit.Slot) chain.Tx {
	tx := chain.Tx{ChainID: n.gen.ChainID, Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: nonce,
		Order: &chain.Order{Side: market.Sell, Slot: slot, Energy: unit.Wh(nonce), Price: n.gen.Tariff.Floor}}
	tx.Sign(key)
	return tx
}

// postTx posts tx to n's API and fails the test unless n accepts it (202).
func postTx(t *testing.T, n *Node, tx chain.Tx) {
	t.Helper()
	resp, err := http.Post("http://"+n.api.Addr().String()+"/api/v1/tx", "application/json", bytes.NewReader(tx.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s tx %d to %s: status %d; want 202", tx.Kind, tx.Nonce, n.cfg.Node.Name, resp.StatusCode)
	}
}

// feeder gives authorities work: each feed places one more order of key's for
// n's last open slot, as an HTTP submission would (checked, gossiped, pooled).
type feeder struct {
	n     *Node
	key   ed25519.PrivateKey
	nonce uint64
}

func (f *feeder) feed() {
	open := f.n.Status().OpenSlots
	if len(open) == 0 {
		return
	}
	f.nonce++
	tx := sellOrder(f.n, f.key, f.nonce, open[len(open)-1])
	f.n.mu.RLock()
	err := f.n.chain.CheckTx(tx, time.Now().UnixMilli())
	f.n.mu.RUnlock()
	if err == nil {
		_ = f.n.publishTx(tx.Encode())
		f.n.txIn <- tx
	}
}

// proposedSince reports whether n's chain holds a block after height from
// proposed by who.
func proposedSince(n *Node, from uint64, who ident.Account) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for h := from + 1; h <= n.chain.Status().Height; h++ {
		if b, _, err := n.chain.Block(h); err == nil && b.Header.Proposer == who {
			return true
		}
	}
	return false
}
