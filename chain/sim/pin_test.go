package sim

import (
	"fmt"
	"testing"
)

// TestPinnedRuns pins what a few fixed seeds produce through the production
// engine, state machine and store: the message digest (every byte every node
// sent, so every vote, proposal and block encoding) and the head of the
// highest honest node (height, block hash, state hash). The constants were
// taken from the code before issue 18's refactoring (encodings, identity and
// hash types, the applyTx dispatch, breakLocking gone); a change here means the
// consensus rules, an encoding or the state hash changed.
func TestPinnedRuns(t *testing.T) {
	for _, tc := range []struct {
		seed          uint64
		n, byz, steps int
		want          string
	}{
		{seed: 1, n: 4, byz: 0, steps: 4000, want: "digest f1b884fcd42dfd85 height 39 block d42893d29e5c451f31b82c7d3cfd76f079ee079dab2a4d446e419e04c501e961 state 37a5ca0fe6670ed8faf86018b423a9c04ff21fdffd37ae6acd421a78a48f5df6 txs 81 settled 1"},
		{seed: 2, n: 4, byz: 1, steps: 4000, want: "digest 9b2745d4ba1c3b65 height 25 block 9352bca51399b45231e8724a5c06fcd58fcf9fe0212d70c8c9ecf3831356b5c4 state 0d8df0b0aa49e4d37172af427329a86dc7427c1cf0b1c1ac4a326f91158cfb18 txs 108 settled 2"},
		{seed: 3, n: 1, byz: 0, steps: 3000, want: "digest 903cb29e0eeb448e height 229 block eaac388b0adbb50fcc1bccb55733fc85bc55ce987f14b2f5735e3c552a117dba state 89461a75f66acc73d348a52558e58e5d311bb9c567ce92133bebc17c4c29f52f txs 223 settled 5"},
	} {
		s, err := New(DefaultConfig(tc.seed, tc.n, tc.byz))
		if err != nil {
			t.Fatal(err)
		}
		if v := s.Run(tc.steps); v != nil {
			s.Close()
			t.Fatalf("seed %d: %s", tc.seed, v.Report())
		}
		st := s.Stats()
		var best *node
		for _, nd := range s.nodes {
			if nd.role == roleHonest && (best == nil || nd.chain.Head().Height > best.chain.Head().Height) {
				best = nd
			}
		}
		h := best.chain.Head()
		got := fmt.Sprintf("digest %016x height %d block %s state %s txs %d settled %d", st.Digest, h.Height, h.Hash(), h.StateHash, st.Txs, st.Settled)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("seed %d n=%d byzantine=%d, %d steps:\n got %s\nwant %s", tc.seed, tc.n, tc.byz, tc.steps, got, tc.want)
		}
	}
}
