package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Four authorities vote a fifth in; from two heights after the deciding block
// it is in the set, its node (refused before the vote) starts, catches up and
// proposes blocks of its own.
func TestAuthorityVotedIn(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 1, 5
	paths, err := writeDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fifthKey, err := config.LoadKey(filepath.Join(filepath.Dir(paths[4]), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	fifth := chain.AccountOf(fifthKey.Public().(ed25519.PublicKey))
	// The genesis knows only the first four; orders may be placed an hour ahead.
	for _, p := range paths {
		gp := filepath.Join(filepath.Dir(p), "genesis.toml")
		g, err := config.LoadGenesis(gp)
		if err != nil {
			t.Fatal(err)
		}
		g.Authorities = slices.DeleteFunc(g.Authorities, func(m config.Member) bool { return m.Key == string(fifth) })
		g.OpenLeadSeconds = 3600
		if err := os.WriteFile(gp, g.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var nodes []*running
	for _, p := range paths[:4] {
		nodes = append(nodes, start(t, p, Options{}))
	}
	auth := nodes[0].n
	waitFor(t, "the four authorities to connect", 30*time.Second, func() bool { return len(auth.host.Peers()) >= 3 })

	post := func(n *Node, tx chain.Tx) {
		t.Helper()
		resp, err := http.Post("http://"+n.api.Addr().String()+"/api/v1/tx", "application/json", bytes.NewReader(tx.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s tx to %s: status %d; want 202", tx.Kind, n.cfg.Node.Name, resp.StatusCode)
		}
	}
	// Three of four votes are more than 2/3.
	// (Submit is what `gridmesh authority add KEY -c node.toml` runs.)
	vote := chain.Tx{Kind: chain.TxAuthority, Authority: &chain.AuthorityChange{Add: true, Key: fifth}}
	for i, p := range paths[:3] {
		if _, err := Submit(context.Background(), p, nodes[i].n.api.Addr().String(), vote); err != nil {
			t.Fatalf("vote of %s: %v", p, err)
		}
	}
	waitFor(t, "the vote to decide the fifth authority in", 60*time.Second, func() bool {
		return slices.Contains(auth.authoritiesAt(auth.Status().Height+2), fifth)
	})
	auth.mu.RLock()
	head := auth.chain.Status().Height
	var decided uint64
	for h := uint64(1); h <= head+2; h++ {
		if ids, _ := auth.chain.Authorities(h); slices.Contains(ids, fifth) {
			decided = h
			break
		}
	}
	before, _ := auth.chain.Authorities(decided - 1)
	auth.mu.RUnlock()
	if len(before) != 4 {
		t.Fatalf("authorities at height %d (before the change) = %d; want 4", decided-1, len(before))
	}

	// A late vote for a decided change is refused by the node, with the rule.
	if _, err := Submit(context.Background(), paths[3], nodes[3].n.api.Addr().String(), vote); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a vote to add an authority already in the set: got %v; want the node's refusal", err)
	} else {
		t.Logf("late vote: %v", err)
	}

	nodes = append(nodes, start(t, paths[4], Options{}))
	newcomer := nodes[4].n
	if newcomer.Status().Voting && newcomer.Status().Height == 0 {
		t.Errorf("the fifth authority votes before it has synced the vote that admits it")
	}
	waitFor(t, "the fifth authority to catch up", 60*time.Second, func() bool {
		return newcomer.Status().Height >= auth.Status().Height && auth.Status().Height > 0
	})

	// Orders keep blocks coming until the newcomer has proposed one.
	key, err := config.LoadKey(filepath.Join(filepath.Dir(paths[5]), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	slot := auth.gen.SlotAt(time.Now().UnixMilli()) + 100
	nonce := uint64(0)
	proposed := func() bool {
		auth.mu.RLock()
		defer auth.mu.RUnlock()
		for h := decided; h <= auth.chain.Status().Height; h++ {
			if b, _, err := auth.chain.Block(h); err == nil && b.Header.Proposer == fifth {
				return true
			}
		}
		return false
	}
	waitFor(t, "a block proposed by the fifth authority", 90*time.Second, func() bool {
		nonce++
		tx := chain.Tx{ChainID: auth.gen.ChainID, Kind: chain.TxOrder, From: chain.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: nonce,
			Order: &chain.Order{Side: market.Sell, Slot: slot, Energy: unit.Wh(nonce), Price: auth.gen.Tariff.Floor}}
		tx.Sign(key)
		post(nodes[int(nonce)%5].n, tx)
		return proposed()
	})
	// Every authority agrees on the state at a common height.
	waitFor(t, "all five authorities to agree", 30*time.Second, func() bool {
		h := auth.Status().Height
		for _, r := range nodes {
			if r.n.Status().Height < h {
				return false
			}
		}
		want := ""
		for _, r := range nodes {
			r.n.mu.RLock()
			b, _, err := r.n.chain.Block(h)
			r.n.mu.RUnlock()
			if err != nil {
				return false
			}
			if got := b.Header.StateHash.String(); want == "" {
				want = got
			} else if got != want {
				t.Fatalf("state hash at height %d: %s has %s, another authority %s", h, r.n.cfg.Node.Name, got, want)
			}
		}
		return true
	})
	if st := newcomer.Status(); st.Authorities != 5 || !st.Voting {
		t.Errorf("the newcomer's status says authorities %d, voting %v; want 5, true", st.Authorities, st.Voting)
	}
}

// Two of four authorities lose every consensus message gossip brings them: the
// other two cannot decide alone, so blocks are made only because the two ask
// their peers for the messages of a round that makes no progress (votes.go).
func TestMissingVotesRequested(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 1, 4
	paths, err := writeDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	for i, p := range paths[:4] {
		n, err := Load(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if i >= 2 {
			n.dropVote = func(consensus.Message) bool { return true }
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node stopped with %v", err)
			}
		})
		nodes = append(nodes, n)
	}
	waitFor(t, "the authorities to connect", 30*time.Second, func() bool { return len(nodes[0].host.Peers()) >= 3 })
	key, err := config.LoadKey(filepath.Join(filepath.Dir(paths[4]), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	a := nodes[0]
	start := a.Status().Height
	nonce := uint64(0)
	waitFor(t, "three blocks decided with two lossy authorities", 90*time.Second, func() bool {
		// An order now and then gives the authorities work.
		nonce++
		open := a.Status().OpenSlots
		if len(open) == 0 {
			return false
		}
		slot := open[len(open)-1]
		tx := chain.Tx{ChainID: a.gen.ChainID, Kind: chain.TxOrder, From: chain.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: nonce,
			Order: &chain.Order{Side: market.Sell, Slot: slot, Energy: unit.Wh(nonce), Price: a.gen.Tariff.Floor}}
		tx.Sign(key)
		a.mu.RLock()
		ok := a.chain.CheckTx(tx, time.Now().UnixMilli()) == nil
		a.mu.RUnlock()
		if ok {
			_ = a.publishTx(tx.Encode())
			a.txIn <- tx
		}
		if nonce%20 == 0 {
			t.Logf("height %d, votes fetched %d %d", a.Status().Height, nodes[2].Status().VotesFetched, nodes[3].Status().VotesFetched)
		}
		return a.Status().Height >= start+3
	})
	for _, n := range nodes[2:] {
		if got := n.Status().VotesFetched; got == 0 {
			t.Errorf("%s: votes_fetched = 0; the blocks cannot have been decided without it", n.cfg.Node.Name)
		}
	}
}
