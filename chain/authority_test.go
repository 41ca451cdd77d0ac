package chain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
)

var kAuths = []key{newKey("authority 1"), newKey("authority 2"), newKey("authority 3"), newKey("authority 4"),
	newKey("authority 5"), newKey("authority 6"), newKey("authority 7")}

// fourGenesis is testGenesis with authorities 1-4 and Dev off.
func fourGenesis() Genesis {
	g := testGenesis()
	g.Authorities = []ident.Account{kAuths[3].acct, kAuths[0].acct, kAuths[2].acct, kAuths[1].acct} // any order
	g.Dev = false
	return g
}

func voteTx(k key, add bool, target key, nonce uint64) Tx {
	return sign(k, Tx{Kind: TxAuthority, Nonce: nonce, Authority: &AuthorityChange{Add: add, Key: target.acct}})
}

// produceBy is produce with proposer k; the block's time is one second after the head's.
func produceBy(t *testing.T, c *Chain, k key, txs ...Tx) Block {
	t.Helper()
	now := c.Head().Time + 1000
	b, errs := c.Propose(now, k.acct, txs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Propose height %d: tx %d (%s) dropped: %v", c.Head().Height+1, i, txs[i].Kind, err)
		}
	}
	if _, err := c.Commit(b, []byte("cert")); err != nil {
		t.Fatalf("Commit height %d: %v", b.Header.Height, err)
	}
	return b
}

func accounts(ks ...key) []ident.Account {
	out := make([]ident.Account, len(ks))
	for i, k := range ks {
		out[i] = k.acct
	}
	slices.Sort(out)
	return out
}

// wantSets checks Authorities(h) for h = 1 .. len(want) and that head+3 is refused.
func wantSets(t *testing.T, c *Chain, want ...[]ident.Account) {
	t.Helper()
	head := c.Head().Height
	if uint64(len(want)) != head+2 {
		t.Fatalf("test bug: %d sets given, head %d", len(want), head)
	}
	for i, w := range want {
		got, err := c.Authorities(uint64(i + 1))
		if err != nil || !slices.Equal(got, w) {
			t.Errorf("Authorities(%d) = %d members %v, %v; want %d members %v", i+1, len(got), got, err, len(w), w)
		}
	}
	if got, err := c.Authorities(head + 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("Authorities(head+3 = %d) = %v, %v; want ErrNotFound", head+3, got, err)
	}
	if _, err := c.Authorities(0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Authorities(0): err = %v, want ErrNotFound", err)
	}
}

func TestAuthorityAdd(t *testing.T) {
	dir := t.TempDir()
	g := fourGenesis()
	c := openDir(t, dir, g)
	defer func() { c.Close() }()
	a1, a2, a3, a4, a5 := kAuths[0], kAuths[1], kAuths[2], kAuths[3], kAuths[4]
	old, grown := accounts(a1, a2, a3, a4), accounts(a1, a2, a3, a4, a5)

	// Block 1: two votes of four are not more than 2/3.
	produceBy(t, c, a1, voteTx(a1, true, a5, 0), voteTx(a2, true, a5, 0))
	wantSets(t, c, old, old, old)
	if err := c.CheckTx(voteTx(a1, true, a5, 1), 0); !errors.Is(err, ErrVoted) {
		t.Fatalf("second vote by a1: err = %v, want ErrVoted", err)
	}
	// Block 2 (H): the third vote decides; the new set decides H+2 = 4 on.
	produceBy(t, c, a2, voteTx(a3, true, a5, 0))
	wantSets(t, c, old, old, old, grown)
	if n := c.st.votes.len(); n != 0 {
		t.Errorf("%d votes left after the decision, want 0", n)
	}
	// Block 3 is still decided by the old set: a5 may not propose it, nor admit.
	if err := c.CheckTx(voteTx(a4, false, a1, 0), 0); !errors.Is(err, ErrChangePending) {
		t.Errorf("vote while the change is pending: err = %v, want ErrChangePending", err)
	}
	admit := sign(a5, Tx{Admit: &Admit{Participant: kCarol.acct, Name: "carol"}})
	if err := c.CheckTx(admit, 0); !errors.Is(err, ErrNotAuthority) {
		t.Errorf("admit by a5 at height 3: err = %v, want ErrNotAuthority", err)
	}
	b, _ := c.Propose(c.Head().Time+1000, a5.acct, nil)
	if err := c.Validate(b, b.Header.Time); !errors.Is(err, ErrBlock) {
		t.Errorf("block 3 proposed by a5: Validate err = %v, want ErrBlock", err)
	}
	produceBy(t, c, a3)
	// Block 4: a5 proposes and admits; votes are accepted again.
	produceBy(t, c, a5, admit, voteTx(a5, true, kAuths[5], 0))
	wantSets(t, c, old, old, old, grown, grown, grown)
	if !c.IsParticipant(kCarol.acct) {
		t.Errorf("carol not admitted by a5 at height 4")
	}

	// Reopen: the same answers and state hash.
	want := c.Status()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c = openDir(t, dir, g)
	if got := c.Status(); got != want {
		t.Fatalf("reopened status %+v, want %+v", got, want)
	}
	wantSets(t, c, old, old, old, grown, grown, grown)
	if err := c.CheckTx(voteTx(a5, true, kAuths[5], 1), 0); !errors.Is(err, ErrVoted) {
		t.Errorf("a5's vote after reopen: err = %v, want ErrVoted (vote lost?)", err)
	}
	// A chain that never closed agrees with the reopened one.
	m := openMem(t, g)
	produceBy(t, m, a1, voteTx(a1, true, a5, 0), voteTx(a2, true, a5, 0))
	produceBy(t, m, a2, voteTx(a3, true, a5, 0))
	produceBy(t, m, a3)
	produceBy(t, m, a5, admit, voteTx(a5, true, kAuths[5], 0))
	if got := m.Status().StateHash; got != want.StateHash {
		t.Errorf("state hash %s in memory, %s on disk", got, want.StateHash)
	}
}

// TestAuthorityRemove: removals need more than 2/3 of the current set, drop the
// removed authority's other votes, and a change that passes because the set
// shrank is decided at the end of the first block of the smaller set.
func TestAuthorityRemove(t *testing.T) {
	dir := t.TempDir()
	g := fourGenesis()
	c := openDir(t, dir, g)
	defer func() { c.Close() }()
	a1, a2, a3, a4, a5, a6, a7 := kAuths[0], kAuths[1], kAuths[2], kAuths[3], kAuths[4], kAuths[5], kAuths[6]
	four, five := accounts(a1, a2, a3, a4), accounts(a1, a2, a3, a4, a5)

	if err := c.CheckTx(voteTx(a1, false, a2, 0), 0); !errors.Is(err, ErrTooFewAuthorities) {
		t.Fatalf("removal from 4: err = %v, want ErrTooFewAuthorities", err)
	}
	produceBy(t, c, a1, voteTx(a1, true, a5, 0), voteTx(a2, true, a5, 0), voteTx(a3, true, a5, 0)) // 1: decided, from 3
	produceBy(t, c, a1)                                                                            // 2
	// 3: three of five (9 > 10 is false) for adding a6; a1 votes for a7.
	produceBy(t, c, a5, voteTx(a2, true, a6, 0), voteTx(a3, true, a6, 0), voteTx(a4, true, a6, 0), voteTx(a1, true, a7, 0))
	wantSets(t, c, four, four, five, five, five)
	// 4: removing a1 takes four of five votes; three are not enough.
	produceBy(t, c, a5, voteTx(a2, false, a1, 0), voteTx(a3, false, a1, 0), voteTx(a4, false, a1, 0))
	wantSets(t, c, four, four, five, five, five, five)
	produceBy(t, c, a5, voteTx(a5, false, a1, 0)) // 5: decided, from 7
	without1 := accounts(a2, a3, a4, a5)
	wantSets(t, c, four, four, five, five, five, five, without1)
	for vk := range c.st.votes.keys() {
		if vk.Voter == a1.acct || vk.change == (change{Key: a1.acct}) {
			t.Errorf("vote %s by %.8s left after a1's removal", vk.change, vk.Voter)
		}
	}
	if err := c.CheckTx(voteTx(a2, false, a3, 0), 0); !errors.Is(err, ErrChangePending) {
		t.Errorf("vote at height 6: err = %v, want ErrChangePending", err)
	}
	produceBy(t, c, a2) // 6: a1 still decides this one
	// 7: the first block of the set of four; the three votes for a6 are now
	// more than 2/3 and are decided at its end, from 9.
	b, _ := c.Propose(c.Head().Time+1000, a1.acct, nil)
	if err := c.Validate(b, b.Header.Time); !errors.Is(err, ErrBlock) {
		t.Errorf("block 7 proposed by removed a1: Validate err = %v, want ErrBlock", err)
	}
	produceBy(t, c, a2)
	with6 := accounts(a2, a3, a4, a5, a6)
	wantSets(t, c, four, four, five, five, five, five, without1, without1, with6)

	want := c.Status()
	c.Close()
	c = openDir(t, dir, g)
	if got := c.Status(); got != want {
		t.Fatalf("reopened status %+v, want %+v", got, want)
	}
	wantSets(t, c, four, four, five, five, five, five, without1, without1, with6)
}

func TestAuthorityVoteRules(t *testing.T) {
	c := openMem(t, fourGenesis())
	a1, a2, a5 := kAuths[0], kAuths[1], kAuths[4]
	produceBy(t, c, a1, voteTx(a1, true, a5, 0))
	dev := openMem(t, testGenesis()) // Dev, kAuth alone
	cases := []struct {
		name string
		c    *Chain
		tx   Tx
		want error
	}{
		{"vote by participant", c, voteTx(kAlice, true, a5, 0), ErrNotAuthority},
		{"vote by outsider", c, voteTx(kMallory, true, kMallory, 0), ErrNotAuthority},
		{"add a member", c, voteTx(a2, true, a1, 0), ErrAlreadyAuthority},
		{"remove a non-member", c, voteTx(a2, false, a5, 0), ErrNoSuchAuthority},
		{"remove below 4", c, voteTx(a2, false, a1, 0), ErrTooFewAuthorities},
		{"same change twice", c, voteTx(a1, true, a5, 7), ErrVoted},
		{"same change, other voter", c, voteTx(a2, true, a5, 0), nil},
		{"other change, same voter", c, voteTx(a1, true, kAuths[5], 0), nil},
		{"malformed key", c, sign(a1, Tx{Kind: TxAuthority, Authority: &AuthorityChange{Add: true, Key: "AB"}}), ErrAccount},
		{"dev: remove the last authority", dev, voteTx(kAuth, false, kAuth, 0), ErrTooFewAuthorities},
		{"dev: add", dev, voteTx(kAuth, true, a1, 0), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.CheckTx(tc.tx, 0)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CheckTx: err = %v, want %v", err, tc.want)
			}
			// The same verdict when proposed.
			_, errs := tc.c.Propose(tc.c.Head().Time+1000, tc.c.Head().Proposer, []Tx{tc.tx})
			if !errors.Is(errs[0], tc.want) || (tc.want == nil) != (errs[0] == nil) {
				t.Fatalf("Propose: err = %v, want %v", errs[0], tc.want)
			}
		})
	}
	// Dev network of one: its single vote decides at once.
	produce(t, dev, testGenesis().OpenAt(0), voteTx(kAuth, true, a1, 0))
	if got, _ := dev.Authorities(3); !slices.Equal(got, accounts(kAuth, a1)) {
		t.Errorf("dev Authorities(3) = %v, want kAuth and a1", got)
	}
}

// TestTallyModel compares the vote counting with a direct count over a
// deterministic sequence of votes: a change is decided exactly when more than
// 2/3 of the set voted for it.
func TestTallyModel(t *testing.T) {
	for n := 1; n <= 7; n++ {
		g := testGenesis()
		g.Authorities = accounts(kAuths[:n]...)
		g.Dev = true
		c := openMem(t, g)
		target := newKey(fmt.Sprintf("target %d", n))
		decidedAt := 0
		for i := range n {
			produceBy(t, c, kAuths[0], voteTx(kAuths[i], true, target, 0))
			set, _ := c.Authorities(c.Head().Height + 2)
			if slices.Contains(set, target.acct) {
				decidedAt = i + 1
				break
			}
		}
		want := 2*n/3 + 1 // smallest v with 3v > 2n
		if decidedAt != want {
			t.Errorf("n = %d: decided after %d votes, want %d", n, decidedAt, want)
		}
	}
}

// TestAuthorityOneChangeAtATime: once a change is decided in a block, later
// votes in the same block are refused, and a block holding both is invalid.
func TestAuthorityOneChangeAtATime(t *testing.T) {
	g := testGenesis() // Dev, kAuth alone: every vote decides
	c := openMem(t, g)
	first, second := voteTx(kAuth, true, kAuths[0], 0), voteTx(kAuth, true, kAuths[1], 0)
	b, errs := c.Propose(g.OpenAt(0), kAuth.acct, []Tx{first, second})
	if errs[0] != nil || !errors.Is(errs[1], ErrChangePending) {
		t.Fatalf("two deciding votes in one block: errs = %v, want [nil, ErrChangePending]", errs)
	}
	forced := b
	forced.Txs = []Tx{first, second}
	forced.Header.TxRoot = TxRoot(forced.Txs)
	if err := c.Validate(forced, forced.Header.Time); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("block with both votes: Validate err = %v, want ErrBlock naming the pending change", err)
	}
}
