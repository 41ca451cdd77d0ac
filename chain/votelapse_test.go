package chain

import (
	"errors"
	"strings"
	"testing"
)

func openVotes(c *Chain) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.votes.len()
}

// TestVoteLapse: with Genesis.VoteLapse set, a vote that does not pass is
// deleted VoteLapse heights after its block, an authority's open votes are
// bounded by MaxOpenVotes, and a change still passes inside the window;
// without it (every existing genesis) votes stay unbounded as before, and the
// genesis encoding (so its hash, pinned by TestPinnedEncodings) omits the field.
func TestVoteLapse(t *testing.T) {
	g := fourGenesis()
	if b := string(recordJSON(g)); strings.Contains(b, "vote_lapse") {
		t.Fatalf("a genesis without a vote lapse encodes it: %s", b)
	}

	t.Run("no lapse", func(t *testing.T) {
		c := openMem(t, fourGenesis())
		produceBy(t, c, kAuths[0], voteTx(kAuths[0], true, kAuths[4], 1))
		for range 50 {
			produceBy(t, c, kAuths[0])
		}
		if n := openVotes(c); n != 1 {
			t.Fatalf("%d open votes after 50 blocks, want the 1 vote kept", n)
		}
		for i := range MaxOpenVotes + 2 { // no bound either
			produceBy(t, c, kAuths[1], voteTx(kAuths[1], true, newKey("candidate "+string(rune('a'+i))), 1))
		}
	})

	t.Run("lapse", func(t *testing.T) {
		g := fourGenesis()
		g.VoteLapse = 10
		c := openMem(t, g)
		produceBy(t, c, kAuths[0], voteTx(kAuths[0], true, kAuths[4], 1)) // height 1
		for h := uint64(2); h <= 10; h++ {
			produceBy(t, c, kAuths[0])
			if n := openVotes(c); n != 1 {
				t.Fatalf("height %d: %d open votes, want 1 (lapses at the end of height 11)", h, n)
			}
		}
		produceBy(t, c, kAuths[0]) // height 11
		if n := openVotes(c); n != 0 {
			t.Fatalf("height 11: %d open votes, want 0", n)
		}
		all := committedEntries(c)
		for k := range all {
			if strings.HasPrefix(k, "v/") {
				t.Fatalf("lapsed vote still in the state: %s", k)
			}
		}
		// At most MaxOpenVotes open votes per authority.
		var txs []Tx
		for i := range MaxOpenVotes {
			txs = append(txs, voteTx(kAuths[1], true, newKey("candidate "+string(rune('a'+i))), 1))
		}
		produceBy(t, c, kAuths[0], txs...)
		err := c.CheckTx(voteTx(kAuths[1], true, newKey("one too many"), 1), c.Head().Time+1000)
		if !errors.Is(err, ErrTooManyVotes) {
			t.Fatalf("vote %d of one authority: %v, want ErrTooManyVotes", MaxOpenVotes+1, err)
		}
		if err := c.CheckTx(voteTx(kAuths[2], true, newKey("one too many"), 1), c.Head().Time+1000); err != nil {
			t.Fatalf("another authority's vote: %v", err)
		}
		// A change voted inside the window passes.
		produceBy(t, c, kAuths[0], voteTx(kAuths[2], true, kAuths[5], 1), voteTx(kAuths[3], true, kAuths[5], 1), voteTx(kAuths[0], true, kAuths[5], 1))
		produceBy(t, c, kAuths[0])
		set, err := c.Authorities(c.Head().Height + 1)
		if err != nil || len(set) != 5 {
			t.Fatalf("after 3 of 4 votes inside the window: set %v, %v", set, err)
		}
		// And the first authority's votes lapse too, so it may vote again.
		for range 10 {
			produceBy(t, c, kAuths[0])
		}
		if n := openVotes(c); n != 0 {
			t.Fatalf("%d open votes after the window", n)
		}
		if err := c.CheckTx(voteTx(kAuths[1], true, newKey("one too many"), 2), c.Head().Time+1000); err != nil {
			t.Fatalf("a vote after the old ones lapsed: %v", err)
		}
		checkCommitted(t, "after lapses", c)
	})
}
