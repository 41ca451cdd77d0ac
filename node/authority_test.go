package node

import (
	"context"
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/wire"
)

// Four authorities vote a fifth in; from two heights after the deciding block
// it is in the set, and its node, started only after the vote, catches up and
// proposes blocks of its own.
func TestAuthorityVotedIn(t *testing.T) {
	parallelNetwork(t)
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	var fifth ident.Account
	paths := demoNet(t, 1, 5, func(g *config.Genesis) {
		// The genesis knows only the first four.
		fifth = ident.Account(g.Authorities[4].Key)
		g.Authorities = g.Authorities[:4]
		farSlots(g)
	})
	if want := ident.AccountOf(nodeKey(t, paths[4]).Public().(ed25519.PublicKey)); fifth != want {
		t.Fatalf("the genesis' fifth authority is %s; the fifth node's key is %s", fifth, want)
	}

	var nodes []*running
	for _, p := range paths[:4] {
		nodes = append(nodes, start(t, p, Options{}))
	}
	auth := nodes[0].n
	waitFor(t, "the four authorities to connect", 30*time.Second, func() bool { return len(auth.host.Peers()) >= 3 })

	fifthPub, err := fifth.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	exempt := func() (k int) {
		for _, r := range nodes {
			if r.n.host.IsUnlimited(fifthPub) {
				k++
			}
		}
		return k
	}
	if k := exempt(); k != 0 {
		t.Errorf("before the vote, %d of 4 nodes exempt the fifth key from the gossip rate limit; want 0", k)
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
	// The gossip rate limit follows the set: the fifth is exempt on every
	// node once the change is in the sets of its next two heights.
	waitFor(t, "every node to exempt the fifth authority from the gossip rate limit", 30*time.Second, func() bool { return exempt() == 4 })
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
	key := nodeKey(t, paths[5])
	slot := auth.gen.SlotAt(time.Now().UnixMilli()) + 100
	nonce := uint64(0)
	waitFor(t, "a block proposed by the fifth authority", 90*time.Second, func() bool {
		nonce++
		postTx(t, nodes[int(nonce)%5].n, sellOrder(auth, key, nonce, slot))
		return proposedSince(auth, decided-1, fifth)
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

// Two of four authorities lose every consensus message the vote stream brings them: the
// other two cannot decide alone, so blocks are made only because the two ask
// their peers for the messages of a round that makes no progress (votes.go).
func TestMissingVotesRequested(t *testing.T) {
	parallelNetwork(t)
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 4, nil)
	var nodes []*Node
	for i, p := range paths[:4] {
		var opts Options
		if i >= 2 {
			opts.Filter = dropProto(wire.VoteProto)
		}
		n, err := Load(context.Background(), p, opts)
		if err != nil {
			t.Fatal(err)
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
	a := nodes[0]
	start := a.Status().Height
	work := &feeder{n: a, key: nodeKey(t, paths[4])}
	waitFor(t, "three blocks decided with two lossy authorities", 90*time.Second, func() bool {
		work.feed() // an order now and then gives the authorities work
		if work.nonce%20 == 0 {
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
