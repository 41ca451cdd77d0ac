package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// TestGossipVerdictsCounted checks that the status tells forged or malformed
// gossip (gossip_rejected) apart from gossip an honest peer may send that is
// not acceptable now (gossip_ignored).
func TestGossipVerdictsCounted(t *testing.T) {
	paths := demoNet(t, 1, 1, nil)
	n := loaded(t, paths[0])

	// A vote signed by a key outside the authority set: this node may lag an
	// authority change, so it is ignored, not held against the forwarder.
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := consensus.Message{Type: consensus.Prevote, Height: 1, ValidRound: -1, From: ident.AccountOf(stranger.Public().(ed25519.PublicKey))}
	m.Sig = ed25519.Sign(stranger, m.SignBytes(n.gen.ChainID))
	garbage, _, _ := n.checkTxBatch([]byte("not a batch"))
	checks := []struct {
		name    string
		verdict p2p.Verdict
		got     p2p.Verdict
	}{
		{"garbage tx batch", p2p.Reject, garbage},
		{"empty consensus payload", p2p.Reject, n.validateConsensus(nil, nil)},
		{"vote from a non-authority", p2p.Ignore, n.validateConsensus(nil, wire.EncodeVote(m))},
	}
	for _, c := range checks {
		if c.got != c.verdict {
			t.Errorf("%s: verdict %v; want %v", c.name, c.got, c.verdict)
		}
	}
	st := n.Status()
	if st.Rejected != 2 || st.Ignored != 1 {
		t.Errorf("status gossip_rejected %d, gossip_ignored %d; want 2 and 1", st.Rejected, st.Ignored)
	}
}

// An authority's consensus messages reach the other authorities over the
// vote stream (no authority subscribes to the consensus topic any more); the
// stream takes them only from authorities.
func TestVotesGoStraightToAuthorities(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 2, nil)
	a, b := start(t, paths[0], Options{}), start(t, paths[1], Options{})
	home := loaded(t, paths[2])
	waitFor(t, "the authorities to connect", 20*time.Second, func() bool {
		return slices.Contains(a.n.host.Peers(), b.n.host.ID())
	})
	vote := func(h uint64) consensus.Message {
		m := consensus.Message{Type: consensus.Prevote, Height: h, ValidRound: -1, From: ident.Account(a.n.self)}
		m.Sig = ed25519.Sign(a.n.key, m.SignBytes(a.n.gen.ChainID))
		return m
	}
	far := b.n.chain.Status().Height + 1000
	a.n.sendVote(context.Background(), vote(far), consensusIDs(a.n.authoritiesAt(1)))
	// Validation marks the height as heard of.
	waitFor(t, "the vote to reach the other authority", 10*time.Second, func() bool {
		return b.n.bestSeen.Load() == far-1
	})

	// The same authority's signed vote, sent by a home: refused at the stream.
	ignored := b.n.Status().Ignored
	if err := home.host.Send(b.n.host.ID(), wire.VoteProto, wire.EncodeVote(vote(far+10))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the home's vote stream to be refused", 10*time.Second, func() bool {
		return b.n.Status().Ignored == ignored+1
	})
	// The stream was refused before a byte of it was read: nothing of it
	// can arrive later.
	if got := b.n.bestSeen.Load(); got != far-1 {
		t.Errorf("after a vote sent by a home, heard of height %d; want %d (not taken)", got, far-1)
	}
}

// An authority relays, once, a batch of transactions that a home sent it to
// the other authorities, and relays nothing an authority sent it.
func TestTxsRelayedToAuthorities(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 3, farSlots)
	// a is not running: without its votes b and c decide no block, so their
	// pools keep what they get.
	a := loaded(t, paths[0])
	b, c := start(t, paths[1], Options{}), start(t, paths[2], Options{})
	waitFor(t, "the authorities to connect", 20*time.Second, func() bool {
		peers := a.host.Peers()
		return slices.Contains(peers, b.n.host.ID()) && slices.Contains(peers, c.n.host.ID())
	})
	homeKey := nodeKey(t, paths[3])
	open := b.n.Status().OpenSlots
	slot := open[len(open)-1] // the last: its gate is an hour away
	fromHome := sellOrder(a, homeKey, 1, slot)
	a.receiveTxs(context.Background(), homeKey.Public().(ed25519.PublicKey), wire.EncodeTxBatch([][]byte{fromHome.Encode()}))
	waitFor(t, "the home's order to reach the other authorities", 10*time.Second, func() bool {
		return b.n.pool.Has(fromHome.Hash()) && c.n.pool.Has(fromHome.Hash())
	})

	fromB := sellOrder(a, homeKey, 2, slot)
	a.receiveTxs(context.Background(), b.n.key.Public().(ed25519.PublicKey), wire.EncodeTxBatch([][]byte{fromB.Encode()}))
	// A later batch from the home is relayed on the same stream to c: once it
	// is there, a relay of b's batch, sent before it, would be too.
	later := sellOrder(a, homeKey, 3, slot)
	a.receiveTxs(context.Background(), homeKey.Public().(ed25519.PublicKey), wire.EncodeTxBatch([][]byte{later.Encode()}))
	waitFor(t, "the home's later order to reach authority c", 10*time.Second, func() bool { return c.n.pool.Has(later.Hash()) })
	if c.n.pool.Has(fromB.Hash()) {
		t.Error("an order authority b sent authority a was relayed to authority c; want no relay of an authority's batch")
	}
	if got := len(a.txIn); got != 3 {
		t.Errorf("the receiving authority queued %d transactions for its loop; want 3", got)
	}
}

// The height a node catches up to needs f+1 authorities' word: with 4, one
// authority claiming a far height moves nothing, a second one claiming a
// lower height moves it to that.
func TestBestSeenNeedsTwoOfFour(t *testing.T) {
	paths := demoNet(t, 1, 4, nil)
	n := loaded(t, paths[4])
	set := n.nearAuthorities()
	if len(set) != 4 {
		t.Fatalf("%d authorities; want 4", len(set))
	}
	n.seen(set[0], 1_000_000)
	if got := n.bestSeen.Load(); got != 0 {
		t.Errorf("after one authority's claim of 1000000: catching up to %d; want 0", got)
	}
	n.seen(set[1], 500)
	if got := n.bestSeen.Load(); got != 500 {
		t.Errorf("after a second authority's claim of 500: catching up to %d; want 500", got)
	}
	n.seen(ident.Account("not an authority"), 2_000_000)
	n.seen(set[0], 1_000_001)
	if got := n.bestSeen.Load(); got != 500 {
		t.Errorf("after more claims by a non-authority and the same authority: catching up to %d; want 500", got)
	}
}

// A home sends each transaction to one authority; one that goes to an
// authority that cannot take it is sent again (to the next) until a block
// holds it. Here authority a is up but not running, so a stream to it
// fails, and b, which cannot decide alone, keeps what it gets.
func TestHomeResendsItsTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 2, farSlots)
	editConfig(t, paths[2], func(c *config.Node) { c.Trading.Enabled = false })
	a := loaded(t, paths[0])
	b := start(t, paths[1], Options{})
	// The home sends each new batch to a (the turn that picks a among the
	// authorities, in the chain's order, both connected below).
	var ids []string
	for _, acc := range a.nearAuthorities() {
		id, err := peerIDOf(acc)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	toA := slices.Index(ids, a.host.ID())
	if toA < 0 {
		t.Fatalf("authority a %s is not among the authorities %v", a.host.ID(), ids)
	}
	home := start(t, paths[2], Options{Choose: func(int) int { return toA }})
	waitFor(t, "the home to connect to both authorities", 20*time.Second, func() bool {
		peers := home.n.host.Peers()
		return slices.Contains(peers, a.host.ID()) && slices.Contains(peers, b.n.host.ID())
	})
	key := nodeKey(t, paths[2])
	open := home.n.Status().OpenSlots
	slot := open[len(open)-1] // the last: its gate is an hour away
	// Both posts go to a first, which takes nothing; only the re-sends,
	// rotating, reach b.
	txs := []chain.Tx{sellOrder(home.n, key, 1, slot), sellOrder(home.n, key, 2, slot)}
	for _, tx := range txs {
		postTx(t, home.n, tx)
	}
	waitFor(t, "both orders to reach authority b", 15*time.Second, func() bool {
		return b.n.pool.Has(txs[0].Hash()) && b.n.pool.Has(txs[1].Hash())
	})
}

// A proposal goes to the other authorities as its transactions' hashes. An
// authority that never got a transaction (here b loses every batch) fetches
// the proposal whole from its sender at once (proposals_fetched); without
// that it could vote for a's blocks only once a round stalled for 1.5 s and
// it asked for the round's messages (votes.go), which does not count.
func TestProposalFetchedWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 1, 2, farSlots)
	a := start(t, paths[0], Options{})
	b := start(t, paths[1], Options{Filter: dropProto(wire.TxProto)}).n
	waitFor(t, "the authorities to connect", 20*time.Second, func() bool { return slices.Contains(a.n.host.Peers(), b.host.ID()) })
	from := b.Status().Height
	work := &feeder{n: a.n, key: nodeKey(t, paths[2])}
	// On a loaded machine b may also get a block another way first (a
	// stalled round's messages, or sync when it falls behind), which is
	// not what this test is about: it waits until b has fetched one
	// proposal whole, with orders still coming (a 60 s timeout if it never
	// does).
	polls := 0
	waitFor(t, "b to fetch a proposal of a's whole, and a block of a's with an order b never received", 60*time.Second, func() bool {
		if polls++; work.nonce < 40 || polls%20 == 0 {
			work.feed()
		}
		if b.Status().ProposalsFetched == 0 {
			return false
		}
		b.mu.RLock()
		defer b.mu.RUnlock()
		for h := from + 1; h <= b.chain.Status().Height; h++ {
			if blk, _, err := b.chain.Block(h); err == nil && blk.Header.Proposer == a.n.self && len(blk.Txs) > 0 {
				return true
			}
		}
		return false
	})
	if got := a.n.Status().ProposalsFetched; got != 0 {
		t.Errorf("a, which has every transaction, fetched %d proposals whole; want 0", got)
	}
}

// A home that sends the authority transactions with forged signatures is
// banned from its transaction stream after a few batches; another home's orders still
// reach the chain.
func TestSpammerBanned(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 2, 1, farSlots)
	for _, p := range paths[1:] {
		editConfig(t, p, func(c *config.Node) { c.Trading.Enabled = false })
	}
	auth := start(t, paths[0], Options{})
	spammer, honest := start(t, paths[1], Options{}), start(t, paths[2], Options{})
	waitFor(t, "the homes to connect to the authority", 20*time.Second, func() bool {
		peers := auth.n.host.Peers()
		return slices.Contains(peers, spammer.n.host.ID()) && slices.Contains(peers, honest.n.host.ID())
	})
	open := auth.n.Status().OpenSlots
	slot := open[len(open)-1]
	key := nodeKey(t, paths[1])
	for i := range 20 {
		forged := sellOrder(auth.n, key, uint64(i+1), slot)
		forged.Sig[0] ^= 1
		if err := spammer.n.host.Send(auth.n.host.ID(), wire.TxProto, wire.EncodeTxBatch([][]byte{forged.Encode()})); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the spammer's ban", 10*time.Second, func() bool { return auth.n.Status().PeersBanned == 1 })
	if got := auth.n.Status().Rejected; got < 10 {
		t.Errorf("the authority rejected %d batches; want at least 10 before the ban", got)
	}
	// An order the spammer signs properly now (its first nonce, so
	// acceptable) is refused with the rest.
	good := sellOrder(auth.n, key, 1, slot)
	waitFor(t, "the spammer's stream to be refused", 10*time.Second, func() bool {
		_ = spammer.n.host.Send(auth.n.host.ID(), wire.TxProto, wire.EncodeTxBatch([][]byte{good.Encode()}))
		return auth.n.host.Stats().StreamsRefused > 0
	})
	order := sellOrder(auth.n, nodeKey(t, paths[2]), 1, slot)
	postTx(t, honest.n, order)
	waitFor(t, "the honest home's order in a block", 20*time.Second, func() bool { return inChain(auth.n, order.Hash()) })
	if auth.n.pool.Has(good.Hash()) || inChain(auth.n, good.Hash()) {
		t.Error("the banned home's order reached the pool or the chain; want it refused")
	}
}

// inChain reports whether a block in n's chain holds the transaction h.
func inChain(n *Node, h ident.Hash) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for height := uint64(1); height <= n.chain.Status().Height; height++ {
		if b, _, err := n.chain.Block(height); err == nil && slices.ContainsFunc(b.Txs, func(tx chain.Tx) bool { return tx.Hash() == h }) {
			return true
		}
	}
	return false
}

// Only the proposer of a height and round, sending its own proposal, for a
// height this node is near, is asked for a proposal whole; one fetch per
// authority at a time.
func TestFetchProposalGate(t *testing.T) {
	paths := demoNet(t, 1, 2, nil)
	n := loaded(t, paths[0])
	ids := consensusIDs(n.authoritiesAt(1))
	slices.Sort(ids)
	pub := func(id ident.Account) ed25519.PublicKey {
		k, err := ident.Account(id).PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	proposer := consensus.ProposerOf(ids, 1, 0)
	other := ids[0]
	if other == proposer {
		other = ids[1]
	}
	prop := func(h uint64, r int32, from ident.Account) consensus.Message {
		return consensus.Message{Type: consensus.Proposal, Height: h, Round: r, ValidRound: -1, From: from}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name string
		from ed25519.PublicKey
		m    consensus.Message
	}{
		{"not the proposer of the round", pub(other), prop(1, 0, other)},
		{"relayed by another authority", pub(other), prop(1, 0, proposer)},
		{"a far height", pub(consensus.ProposerOf(ids, 9, 0)), prop(9, 0, consensus.ProposerOf(ids, 9, 0))},
	} {
		before := n.stats.ignored.Load()
		n.fetchProposal(ctx, c.from, c.m)
		if n.stats.ignored.Load() != before+1 || len(n.fetch) != 0 {
			t.Errorf("%s: ignored %d -> %d, %d fetches; want ignored once, no fetch", c.name, before, n.stats.ignored.Load(), len(n.fetch))
		}
	}
	n.fetchProposal(ctx, pub(proposer), prop(1, 0, proposer))
	n.fetchMu.Lock()
	first := n.fetch[string(pub(proposer))]
	n.fetchMu.Unlock()
	if first.height != 1 || first.at.IsZero() {
		t.Fatalf("the proposer's own proposal: fetch state %+v; want a fetch of height 1", first)
	}
	n.fetchProposal(ctx, pub(proposer), prop(1, 0, proposer)) // at once again: in flight or within 1 s
	n.fetchMu.Lock()
	again := n.fetch[string(pub(proposer))]
	n.fetchMu.Unlock()
	if !again.at.Equal(first.at) {
		t.Errorf("a second fetch started at once (%v after the first); want none", again.at.Sub(first.at))
	}
}
