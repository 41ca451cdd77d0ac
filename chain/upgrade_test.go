package chain

import (
	"errors"
	"strings"
	"testing"
)

func upgradeTx(k key, name string, height, nonce uint64) Tx {
	return sign(k, Tx{Kind: TxUpgrade, Nonce: nonce, Upgrade: &UpgradeVote{Name: name, Height: height}})
}

func tariffTx(k key, seq uint64) Tx {
	return sign(k, Tx{Tariff: &Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 20_000, Seq: seq}})
}

// checkNext checks tx against the head of c and wants err (nil: accepted).
func checkNext(t *testing.T, c *Chain, what string, tx Tx, want error) {
	t.Helper()
	err := c.CheckTx(tx, c.Head().Time+1000)
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s at height %d: got %v, want %v", what, c.Head().Height+1, err, want)
	}
}

// TestUpgradeVote: an upgrade is scheduled when more than 2/3 of the
// authorities voted the same name and height, and its rule (tariff-seq-next)
// applies from that height on, not before; the votes are checked (sender,
// height, duplicates, a name already scheduled); the schedule survives a
// reopen of the store.
func TestUpgradeVote(t *testing.T) {
	dir := t.TempDir()
	g := fourGenesis()
	c, err := Open(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	a := kAuths
	const at = 8
	produceBy(t, c, a[0], upgradeTx(a[0], UpgradeTariffSeqNext, at, 1)) // block 1
	checkNext(t, c, "a participant's vote", upgradeTx(kAlice, UpgradeTariffSeqNext, at, 1), ErrNotAuthority)
	checkNext(t, c, "a vote for the next block", upgradeTx(a[1], UpgradeTariffSeqNext, 3, 1), ErrUpgradeHeight)
	checkNext(t, c, "the same vote again", upgradeTx(a[0], UpgradeTariffSeqNext, at, 2), ErrVoted)
	checkNext(t, c, "a bad name", upgradeTx(a[1], "Tariff Seq", at, 1), ErrTxShape)
	produceBy(t, c, a[1], upgradeTx(a[1], UpgradeTariffSeqNext, at, 1)) // block 2: 2 of 4
	if u := c.Upgrades(); len(u) != 0 {
		t.Fatalf("after 2 of 4 votes: scheduled %+v; want nothing (more than 2/3 needed)", u)
	}
	produceBy(t, c, a[2], upgradeTx(a[2], UpgradeTariffSeqNext, at, 1)) // block 3: 3 of 4
	want := Upgrade{Name: UpgradeTariffSeqNext, Height: at, Decided: 3, Known: true}
	if u := c.Upgrades(); len(u) != 1 || u[0] != want {
		t.Fatalf("after 3 of 4 votes: scheduled %+v; want [%+v]", u, want)
	}
	checkNext(t, c, "a vote for a scheduled upgrade", upgradeTx(a[3], UpgradeTariffSeqNext, at+5, 1), ErrUpgradeScheduled)
	if c.st.upVotes.len() != 0 {
		t.Errorf("%d upgrade votes left after the decision; want 0", c.st.upVotes.len())
	}
	// Before the activation height the old rule: any higher seq.
	produceBy(t, c, a[0], tariffTx(a[0], 5)) // block 4
	for c.Head().Height < at-1 {
		produceBy(t, c, a[1])
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err = Open(dir, g); err != nil {
		t.Fatalf("reopen with a scheduled upgrade: %v", err)
	}
	defer c.Close()
	if u := c.Upgrades(); len(u) != 1 || u[0] != want {
		t.Fatalf("after reopening: scheduled %+v; want [%+v]", u, want)
	}
	// From the activation height on: the next seq only.
	checkNext(t, c, "seq 7 after 5, upgrade in force", tariffTx(a[0], 7), ErrTariffSeq)
	produceBy(t, c, a[0], tariffTx(a[0], 6))
	if got := c.Tariff().Seq; got != 6 {
		t.Errorf("tariff seq %d after seq 6 at height %d; want 6", got, at)
	}
}

// TestUpgradeVoteLapses: a vote of 2 of 4 decides nothing, the old rule
// stays, and the votes lapse once their height has passed.
func TestUpgradeVoteLapses(t *testing.T) {
	c := openMem(t, fourGenesis())
	a := kAuths
	produceBy(t, c, a[0], upgradeTx(a[0], UpgradeTariffSeqNext, 4, 1), upgradeTx(a[1], UpgradeTariffSeqNext, 4, 1))
	produceBy(t, c, a[0], tariffTx(a[0], 3))
	for c.Head().Height < 4 {
		if n := c.st.upVotes.len(); n != 2 {
			t.Fatalf("at height %d: %d upgrade votes; want the 2 cast", c.Head().Height, n)
		}
		produceBy(t, c, a[1])
	}
	if n := c.st.upVotes.len(); n != 0 {
		t.Errorf("after height 4: %d upgrade votes for height 4; want them lapsed", n)
	}
	checkNext(t, c, "seq 9 after 3 without the upgrade", tariffTx(a[0], 9), nil)
}

// TestUnknownUpgradeHalts: an upgrade this binary does not know, once
// scheduled, stops the chain just before its height: UnknownUpgrade says so
// in the words a homeowner reads, and no block at that height is built or
// taken, so the node stops instead of forking.
func TestUnknownUpgradeHalts(t *testing.T) {
	c := openMem(t, fourGenesis())
	a := kAuths
	const at = 5
	produceBy(t, c, a[0], upgradeTx(a[0], "no-such-rule", at, 1), upgradeTx(a[1], "no-such-rule", at, 1), upgradeTx(a[2], "no-such-rule", at, 1))
	if u := c.Upgrades(); len(u) != 1 || u[0].Known {
		t.Fatalf("scheduled %+v; want no-such-rule, not known", u)
	}
	for c.Head().Height < at-1 {
		if err := c.UnknownUpgrade(); err != nil {
			t.Fatalf("UnknownUpgrade at height %d: %v; want nil before height %d", c.Head().Height, err, at-1)
		}
		produceBy(t, c, a[1])
	}
	err := c.UnknownUpgrade()
	if !errors.Is(err, ErrUnknownUpgrade) || !strings.Contains(err.Error(), `upgrade "no-such-rule" activates at height 5; this binary does not know it: update gridmesh`) {
		t.Fatalf("UnknownUpgrade at height %d = %v; want the upgrade, its height and what to do", c.Head().Height, err)
	}
	blk, errs := c.Propose(c.Head().Time+1000, a[0].acct, []Tx{tariffTx(a[0], 1)})
	if blk.Header.Height != 0 || len(errs) != 1 || !errors.Is(errs[0], ErrUnknownUpgrade) {
		t.Errorf("Propose at height %d: block %d, errs %v; want no block and ErrUnknownUpgrade", at, blk.Header.Height, errs)
	}
	// A block for that height from a node that knows the upgrade.
	b := Block{Header: Header{ChainID: "test-net", Height: at, Time: c.Head().Time + 1000, Parent: c.Head().Hash(), TxRoot: TxRoot(nil), Proposer: a[0].acct}, Txs: []Tx{}}
	if err := c.Validate(b, b.Header.Time); !errors.Is(err, ErrUnknownUpgrade) {
		t.Errorf("Validate of block %d: %v; want ErrUnknownUpgrade", at, err)
	}
}
