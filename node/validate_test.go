package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/p2p"
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
	m := consensus.Message{Type: consensus.Prevote, Height: 1, ValidRound: -1, From: consensus.IDOf(stranger.Public().(ed25519.PublicKey))}
	m.Sig = ed25519.Sign(stranger, m.SignBytes(n.gen.ChainID))
	checks := []struct {
		name    string
		verdict p2p.Verdict
		got     p2p.Verdict
	}{
		{"garbage tx batch", p2p.Reject, n.validateTx(nil, []byte("not a batch"))},
		{"empty consensus payload", p2p.Reject, n.validateConsensus(nil, nil)},
		{"vote from a non-authority", p2p.Ignore, n.validateConsensus(nil, encodeVote(m))},
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
