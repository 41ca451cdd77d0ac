package chain

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
)

// releaseKeyString is a minisign public key line made from seed.
func releaseKeyString(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	b := append([]byte("Ed"), sum[:8]...)
	b = append(b, sum[:]...)
	return base64.StdEncoding.EncodeToString(b)
}

func announceTx(k key, version, manifest string, nonce uint64) Tx {
	h := ident.Hash(sha256.Sum256([]byte(manifest)))
	return sign(k, Tx{Kind: TxRelease, Nonce: nonce, Release: &ReleaseVote{Version: version, Manifest: &h}})
}

func keysTx(k key, nonce uint64, keys ...string) Tx {
	return sign(k, Tx{Kind: TxRelease, Nonce: nonce, Release: &ReleaseVote{Keys: keys}})
}

// releaseVotesOn produces blocks on c until upgrade release-votes is in
// force (3 of 4 vote it in block 1 for height 3).
func releaseVotesOn(t *testing.T, c *Chain) {
	t.Helper()
	a := kAuths
	at := c.Head().Height + 1 + MinUpgradeLead
	produceBy(t, c, a[0], upgradeTx(a[0], UpgradeReleaseVotes, at, 1), upgradeTx(a[1], UpgradeReleaseVotes, at, 1), upgradeTx(a[2], UpgradeReleaseVotes, at, 1))
	for c.Head().Height+1 < at {
		produceBy(t, c, a[0])
	}
}

// TestReleaseAnnounce: an announcement is refused before release-votes is
// in force and from a participant; 1 and 2 of 4 votes announce nothing; the
// third announces the release, survives a reopen, and clears the votes.
func TestReleaseAnnounce(t *testing.T) {
	dir := t.TempDir()
	g := fourGenesis()
	c, err := Open(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	a := kAuths
	checkNext(t, c, "an announcement before release-votes", announceTx(a[0], "v1.5.0", "m1", 1), ErrReleaseVotesOff)
	releaseVotesOn(t, c)
	checkNext(t, c, "a participant's announcement", announceTx(kAlice, "v1.5.0", "m1", 1), ErrNotAuthority)
	checkNext(t, c, "no manifest", sign(a[0], Tx{Kind: TxRelease, Release: &ReleaseVote{Version: "v1"}}), ErrTxShape)
	checkNext(t, c, "keys and a version", sign(a[0], Tx{Kind: TxRelease, Release: &ReleaseVote{Version: "v1", Keys: []string{releaseKeyString("k")}}}), ErrTxShape)
	produceBy(t, c, a[0], announceTx(a[0], "v1.5.0", "m1", 1))
	checkNext(t, c, "the same vote again", announceTx(a[0], "v1.5.0", "m1", 2), ErrVoted)
	if _, ok := c.Announced(); ok {
		t.Fatal("after 1 of 4 votes: a release is announced; want none")
	}
	produceBy(t, c, a[1], announceTx(a[1], "v1.5.0", "m1", 1))
	if _, ok := c.Announced(); ok {
		t.Fatal("after 2 of 4 votes: a release is announced; want none (more than 2/3 needed)")
	}
	if v := c.ReleaseVotes(); len(v) != 1 || v[0].Voters != 2 || v[0].Vote.Version != "v1.5.0" {
		t.Fatalf("open release votes after 2 of 4: %+v; want v1.5.0 held by 2", v)
	}
	produceBy(t, c, a[2], announceTx(a[2], "v1.5.0", "m1", 1))
	want := Announced{Version: "v1.5.0", Manifest: sha256.Sum256([]byte("m1")), Height: c.Head().Height, Votes: 3}
	if got, ok := c.Announced(); !ok || got != want {
		t.Fatalf("after 3 of 4 votes: announced %+v (%v); want %+v", got, ok, want)
	}
	if n := c.st.relVotes.len(); n != 0 {
		t.Errorf("%d open release votes after the decision; want 0", n)
	}
	checkNext(t, c, "announcing the announced release", announceTx(a[3], "v1.5.0", "m1", 1), ErrReleaseNoChange)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err = Open(dir, g); err != nil {
		t.Fatalf("reopen with an announced release: %v", err)
	}
	defer c.Close()
	if got, ok := c.Announced(); !ok || got != want {
		t.Fatalf("after reopening: announced %+v (%v); want %+v", got, ok, want)
	}
	// A newer announcement replaces it; a vote changed before the decision
	// counts only once.
	produceBy(t, c, a[0], announceTx(a[0], "v1.6.0", "m2", 1), announceTx(a[1], "v1.6.0", "m3", 1))
	produceBy(t, c, a[1], announceTx(a[1], "v1.6.0", "m2", 2))
	if got, _ := c.Announced(); got.Version != "v1.5.0" {
		t.Fatalf("after 2 of 4 votes for v1.6.0: announced %s; want still v1.5.0", got.Version)
	}
	produceBy(t, c, a[3], announceTx(a[3], "v1.6.0", "m2", 1))
	if got, _ := c.Announced(); got.Version != "v1.6.0" || got.Manifest != sha256.Sum256([]byte("m2")) {
		t.Fatalf("after 3 of 4 votes for v1.6.0 (m2): announced %+v", got)
	}
}

// TestReleaseKeyRotation: one authority cannot replace the release keys;
// more than 2/3 can, and then ReleaseKeys names the new set; a rotation to
// the keys in force is refused; keys must be sorted, distinct and keys.
func TestReleaseKeyRotation(t *testing.T) {
	c, err := OpenMemory(fourGenesis())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	releaseVotesOn(t, c)
	a := kAuths
	k1, k2 := releaseKeyString("new 1"), releaseKeyString("new 2")
	keys := []string{min(k1, k2), max(k1, k2)}
	checkNext(t, c, "unsorted keys", keysTx(a[0], 1, keys[1], keys[0]), ErrTxShape)
	checkNext(t, c, "a duplicate key", keysTx(a[0], 1, keys[0], keys[0]), ErrTxShape)
	checkNext(t, c, "not a key", keysTx(a[0], 1, "RWQ"), ErrTxShape)
	produceBy(t, c, a[0], keysTx(a[0], 1, keys...))
	for range 3 {
		produceBy(t, c, a[0])
	}
	if got, ok := c.ReleaseKeys(); ok {
		t.Fatalf("one authority's key vote replaced the keys: %+v; want genesis's still", got)
	}
	produceBy(t, c, a[1], keysTx(a[1], 1, keys...), keysTx(a[3], 1, keys...))
	got, ok := c.ReleaseKeys()
	if !ok || !slices.Equal(got.Keys, keys) || got.Votes != 3 {
		t.Fatalf("after 3 of 4 key votes: %+v (%v); want %v by 3", got, ok, keys)
	}
	checkNext(t, c, "a rotation to the keys in force", keysTx(a[2], 1, keys...), ErrReleaseNoChange)
	if _, ok := c.Announced(); ok {
		t.Error("a key rotation announced a release")
	}
}

// TestReleaseEncoding: both shapes round-trip through the canonical
// encoding and name their fields as the doc says.
func TestReleaseEncoding(t *testing.T) {
	for _, tx := range []Tx{announceTx(kAuth, "v1.5.0", "m", 1), keysTx(kAuth, 2, releaseKeyString("a"))} {
		b := tx.Encode()
		got, err := DecodeTx(b)
		if err != nil {
			t.Fatalf("DecodeTx(%s): %v", b, err)
		}
		if back := got.Encode(); string(back) != string(b) {
			t.Errorf("re-encoded %s; want %s", back, b)
		}
		if err := got.Verify(); err != nil {
			t.Errorf("Verify(%s): %v", b, err)
		}
	}
	h := ident.Hash(sha256.Sum256([]byte("m")))
	tx := Tx{ChainID: "n", Kind: TxRelease, From: kAuth.acct, Release: &ReleaseVote{Version: "v1", Manifest: &h}}
	want := `{"chain_id":"n","kind":9,"from":"` + string(kAuth.acct) + `","nonce":0,"release":{"version":"v1","manifest":"` + h.String() + `"}}`
	if got := string(tx.Encode()); got != want {
		t.Errorf("announcement encodes as\n%s\nwant\n%s", got, want)
	}
}
