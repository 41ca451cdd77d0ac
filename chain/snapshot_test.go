package chain

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
)

// tradedChain is a chain on disk with a traded, settled slot and open orders.
func tradedChain(t *testing.T) *Chain {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "src"), testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	produce(t, c, ms(0, 1), orderTx(kAlice, market.Buy, 3, 500, 200_000, 1), orderTx(kBob, market.Sell, 3, 500, 100_000, 1))
	produce(t, c, ms(2, 50))
	produce(t, c, ms(4, 1), attestTx(kAlice, 3, 500, 0), attestTx(kBob, 3, 0, 500),
		orderTx(kAlice, market.Buy, 8, 100, 150_000, 2))
	produce(t, c, ms(4, 59))
	return c
}

func stateHashOf(b []byte) ident.Hash {
	d := sha256.New()
	d.Write([]byte("gridmesh/state/v1\n"))
	d.Write(b)
	return ident.Hash(d.Sum(nil))
}

// TestSnapshotInstall: a snapshot's values staged into a fresh store and
// installed give the source's state, which then follows the source's next
// block and survives a reopen; the stale entries of the fresh store are gone.
func TestSnapshotInstall(t *testing.T) {
	src := tradedChain(t)
	sn, err := src.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	next, _ := produce(t, src, ms(5, 1)) // after the snapshot: it must not see it
	blk, cert, err := src.Block(sn.Height)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(sn.Manifest, blk.Header.StateHash)
	if err != nil {
		t.Fatalf("ParseManifest of a snapshot: %v", err)
	}
	if m.Len() != sn.Len() || m.Len() == 0 {
		t.Fatalf("manifest of %d entries, snapshot %d", m.Len(), sn.Len())
	}
	dir := filepath.Join(t.TempDir(), "dst")
	dst, err := Open(dir, testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { dst.Close() }()
	if err := dst.InstallSnapshot(m, blk, cert); err == nil {
		t.Fatal("installed a snapshot with no value staged")
	}
	for i := 0; i < m.Len(); i += 3 {
		vals, err := sn.Values(i, 3, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.StageSnapshot(m, i, vals); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.StageSnapshot(m, 0, [][]byte{[]byte("x")}); err == nil {
		t.Error("staged a value that does not match its digest")
	}
	if err := dst.InstallSnapshot(m, blk, cert); err != nil {
		t.Fatalf("InstallSnapshot: %v", err)
	}
	if got := dst.Status(); got.Height != sn.Height || got.StateHash != blk.Header.StateHash {
		t.Fatalf("installed: height %d state %s, want %d %s", got.Height, got.StateHash, sn.Height, blk.Header.StateHash)
	}
	if _, _, err := dst.Block(1); !errors.Is(err, ErrPruned) {
		t.Errorf("block 1 after installing: err %v, want ErrPruned", err)
	}
	if _, err := dst.Commit(next, []byte("cert")); err != nil {
		t.Fatalf("follow block %d: %v", next.Header.Height, err)
	}
	if got, want := len(dst.Statement(kAlice.acct, 0, 100)), len(src.Statement(kAlice.acct, 0, 100)); got != want || want == 0 {
		t.Errorf("alice's statement: %d lines, want %d (and some)", got, want)
	}
	dst.Close()
	if dst, err = Open(dir, testGenesis()); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got, want := dst.Status().StateHash, src.Status().StateHash; got != want {
		t.Errorf("reopened: state %s, want %s", got, want)
	}
	if err := dst.InstallSnapshot(m, blk, cert); !errors.Is(err, ErrSnapshot) {
		t.Errorf("install below the head: err %v, want ErrSnapshot", err)
	}
}

// TestParseManifestRefuses: a manifest must hash to the certified state
// hash, and one that does must still be well formed.
func TestParseManifestRefuses(t *testing.T) {
	src := tradedChain(t)
	sn, err := src.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	want := src.Status().StateHash
	bad := bytes.Clone(sn.Manifest)
	bad[len(bad)/2] ^= 1
	if _, err := ParseManifest(bad, want); !errors.Is(err, ErrEncoding) {
		t.Errorf("a changed manifest: err %v, want ErrEncoding", err)
	}
	two := append(appendRecord(nil, "b", &ident.Hash{}), appendRecord(nil, "a", &ident.Hash{})...)
	if _, err := ParseManifest(two, stateHashOf(two)); !errors.Is(err, ErrEncoding) {
		t.Errorf("keys out of order: err %v, want ErrEncoding", err)
	}
	if _, err := ParseManifest(two[:10], stateHashOf(two[:10])); !errors.Is(err, ErrEncoding) {
		t.Errorf("a cut record: err %v, want ErrEncoding", err)
	}
}

// FuzzParseManifest: whatever it accepts is a key list of strictly
// increasing keys that re-encodes to the input.
func FuzzParseManifest(f *testing.F) {
	f.Add(append(appendRecord(nil, "a", &ident.Hash{1}), appendRecord(nil, "b/x", &ident.Hash{2})...))
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b, stateHashOf(b))
		if err != nil {
			return
		}
		var back []byte
		for i := range m.Len() {
			k := m.Key(i)
			if i > 0 && m.Key(i-1) >= k {
				t.Fatalf("keys %q, %q out of order", m.Key(i-1), k)
			}
			d := m.keys.digest(i)
			back = appendRecord(back, k, &d)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", back, b)
		}
	})
}
