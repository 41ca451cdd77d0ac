package chain

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// storedValues is every state entry's stored value (uncompressed): stubs
// as they are.
func storedValues(t *testing.T, c *Chain) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := walkStored(c, func(k string, v []byte) { out[k] = bytes.Clone(v) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshotOf is c's snapshot at its head with its block, certificate and
// verified manifest.
func snapshotOf(t *testing.T, c *Chain) (*Snapshot, Block, []byte, *Manifest) {
	t.Helper()
	sn, err := c.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sn.Close)
	blk, cert, err := c.Block(sn.Height)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(sn.Manifest, blk.Header.StateHash)
	if err != nil {
		t.Fatal(err)
	}
	return sn, blk, cert, m
}

// stageFetched stages, from sn, the entries Fetch has dst download, and
// checks that they are every entry but the stubbed ones.
func stageFetched(t *testing.T, dst *Chain, sn *Snapshot, m *Manifest, blk Block) [][2]int {
	t.Helper()
	spans := dst.Fetch(m, blk)
	fetched, prev := 0, 0
	for _, sp := range spans {
		if sp[0] < prev || sp[1] <= sp[0] || sp[1] > m.Len() {
			t.Fatalf("Fetch spans %v: not ordered, disjoint and within %d entries", spans, m.Len())
		}
		prev = sp[1]
		fetched += sp[1] - sp[0]
		for i := sp[0]; i < sp[1]; {
			vals, err := sn.Values(i, 5, 1<<20)
			if err != nil {
				t.Fatalf("Values(%d) of the source: %v", i, err)
			}
			vals = vals[:min(len(vals), sp[1]-i)]
			if err := dst.StageSnapshot(m, i, vals); err != nil {
				t.Fatal(err)
			}
			i += len(vals)
		}
	}
	if got, want := m.Stubbed(), m.Len()-fetched; got != want {
		t.Fatalf("Stubbed() = %d, want %d (entries %d, fetched %d)", got, want, m.Len(), fetched)
	}
	return spans
}

// prunedTwin builds, on a fresh store, the chain tradeSlots builds from seed
// (the same blocks, so the same states) and prunes it as a home does
// keeping the blocks from below on.
func prunedTwin(t *testing.T, g Genesis, seed uint64, first unit.Slot, n int, self ident.Account) *Chain {
	t.Helper()
	c := openDir(t, filepath.Join(t.TempDir(), "pruned"), g)
	t.Cleanup(func() { c.Close() })
	tradeSlots(t, c, rand.New(rand.NewPCG(seed, seed+1)), first, n, nil)
	if _, slots, err := c.PruneHome(c.Head().Height, self); err != nil || slots == 0 {
		t.Fatalf("PruneHome of the twin: %d slots, %v", slots, err)
	}
	return c
}

// TestSnapshotInstallStubs: a home joining from a snapshot downloads no old
// cleared or settled record: it writes their stubs from the manifest, and
// its store is then, entry for entry, the store of a home that pruned at the
// snapshot's height. The state hash is the certified one, old slots' Result
// and Settlement report none, recent ones are there, the statement has the
// lines of the slots it holds, and it follows the chain, reopens and prunes.
func TestSnapshotInstallStubs(t *testing.T) {
	g := historyGenesis()
	src := openDir(t, filepath.Join(t.TempDir(), "src"), g)
	defer src.Close()
	settled := tradeSlots(t, src, rand.New(rand.NewPCG(31, 32)), 10, 40, nil)
	sn, blk, cert, m := snapshotOf(t, src)
	dir := filepath.Join(t.TempDir(), "dst")
	dst := openDir(t, dir, g)
	defer func() { dst.Close() }()
	stageFetched(t, dst, sn, m, blk)
	cut := m.cut
	if n := m.Stubbed(); n < 40 || cut < 10+6*20 {
		t.Fatalf("%d entries stubbed below slot %d; want the records of most of the 40 slots", n, cut)
	}
	if err := dst.InstallSnapshot(m, blk, cert); err != nil {
		t.Fatalf("InstallSnapshot: %v", err)
	}
	if got := dst.Status(); got.Height != sn.Height || got.StateHash != blk.Header.StateHash {
		t.Fatalf("installed: height %d state %s, want %d %s", got.Height, got.StateHash, sn.Height, blk.Header.StateHash)
	}
	checkCommitted(t, "installed with stubs", dst)

	// Entry for entry a pruned home's store, stubs included.
	twin := prunedTwin(t, g, 31, 10, 40, kAlice.acct)
	if twin.Status() != src.Status() {
		t.Fatalf("the twin is at %+v, the source at %+v", twin.Status(), src.Status())
	}
	got, want := storedValues(t, dst), storedValues(t, twin)
	stubs := 0
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("entry %q: joined home stores %x, pruned home %x", k, got[k], v)
		}
		if isStub(k, v) {
			stubs++
		}
	}
	if len(got) != len(want) || stubs != m.Stubbed() {
		t.Errorf("joined home: %d entries; pruned home %d, of them %d stubs; %d stubbed", len(got), len(want), stubs, m.Stubbed())
	}
	if hp, _ := dst.histPrunedBelow(); hp != cut {
		t.Errorf("history cut %d after install, want %d", hp, cut)
	}

	for sl, st := range settled {
		_, okR := dst.Result(sl)
		gotSt, okS := dst.Settlement(sl)
		switch {
		case sl < cut && (okR || okS):
			t.Errorf("slot %d (below the cut %d): Result %v, Settlement %v; want none, as on a pruned home", sl, cut, okR, okS)
		case sl >= cut && (!okS || !reflect.DeepEqual(gotSt, st)):
			t.Errorf("slot %d (at or above the cut %d): Settlement %v, %+v; want %+v", sl, cut, okS, gotSt, st)
		}
	}
	wantLines := src.Statement(kAlice.acct, cut, math.MaxInt64)
	if gotLines := dst.Statement(kAlice.acct, math.MinInt64, math.MaxInt64); !reflect.DeepEqual(gotLines, wantLines) || len(wantLines) == 0 {
		t.Errorf("joined home's statement: %d lines, want the source's %d from slot %d", len(gotLines), len(wantLines), cut)
	}

	// It executes, reopens and prunes as a pruned home.
	from := src.Head().Height
	tradeSlots(t, src, rand.New(rand.NewPCG(33, 34)), 10+6*40, 12, nil)
	for h := from + 1; h <= src.Head().Height; h++ {
		b, c, err := src.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dst.Commit(b, c); err != nil {
			t.Fatalf("follow block %d: %v", h, err)
		}
	}
	if got, want := dst.Status(), src.Status(); got != want {
		t.Fatalf("after following: %+v, want %+v", got, want)
	}
	dst.Close()
	dst = openDir(t, dir, g)
	if got, want := dst.Status(), src.Status(); got != want {
		t.Fatalf("reopened: %+v, want %+v", got, want)
	}
	if _, slots, err := dst.PruneHome(dst.Head().Height-8, kAlice.acct); err != nil || slots == 0 {
		t.Fatalf("PruneHome after joining: %d slots, %v; want some (those settled since)", slots, err)
	}
	checkCommitted(t, "joined, followed and pruned", dst)
}

// TestSnapshotInstallReturning: a home that was offline while the chain
// went on installs a newer snapshot: it keeps every statement line it had
// below the new history cut (its own and, where it had not pruned, the other
// accounts'), and has the source's lines from the cut on.
func TestSnapshotInstallReturning(t *testing.T) {
	g := historyGenesis()
	src := openDir(t, filepath.Join(t.TempDir(), "src"), g)
	defer src.Close()
	rng := rand.New(rand.NewPCG(41, 42))
	tradeSlots(t, src, rng, 10, 20, nil)
	home := openDir(t, filepath.Join(t.TempDir(), "home"), g)
	defer home.Close()
	for h := uint64(1); h <= src.Head().Height; h++ {
		b, c, err := src.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := home.Commit(b, c); err != nil {
			t.Fatal(err)
		}
	}
	bobBefore := home.Statement(kBob.acct, math.MinInt64, math.MaxInt64)
	if _, slots, err := home.PruneHome(home.Head().Height-24, kAlice.acct); err != nil || slots == 0 {
		t.Fatalf("PruneHome before going offline: %d slots, %v", slots, err)
	}
	old, _ := home.histPrunedBelow()
	all := func(c *Chain, a ident.Account) []StatementLine { return c.Statement(a, math.MinInt64, math.MaxInt64) }
	had := map[ident.Account][]StatementLine{kAlice.acct: all(home, kAlice.acct), kBob.acct: all(home, kBob.acct)}
	tradeSlots(t, src, rng, 10+6*20, 30, nil) // while it is offline

	sn, blk, cert, m := snapshotOf(t, src)
	stageFetched(t, home, sn, m, blk)
	cut := m.cut
	if cut <= old {
		t.Fatalf("new cut %d, old %d: want the new one above", cut, old)
	}
	if err := home.InstallSnapshot(m, blk, cert); err != nil {
		t.Fatalf("InstallSnapshot on a returning home: %v", err)
	}
	if got, want := home.Status(), src.Status(); got != want {
		t.Fatalf("installed: %+v, want %+v", got, want)
	}
	checkCommitted(t, "returning home installed", home)
	for a, lines := range had {
		var want []StatementLine
		for _, l := range lines {
			if l.Slot < cut {
				want = append(want, l)
			}
		}
		want = append(want, src.Statement(a, cut, math.MaxInt64)...)
		if got := all(home, a); !reflect.DeepEqual(got, want) {
			t.Errorf("%s's statement on the returning home: %d lines, want %d (the %d it had below slot %d, then the source's)", a, len(got), len(want), len(lines), cut)
		}
	}
	if len(had[kBob.acct]) >= len(bobBefore) || len(had[kAlice.acct]) == 0 {
		t.Fatalf("test setup: bob had %d lines after pruning, %d before; want some pruned", len(had[kBob.acct]), len(bobBefore))
	}
}

// TestSnapshotValuesPruned: a store that pruned serves no stub as a value:
// Values stops before a pruned record and answers ErrPruned from one; what
// it does send verifies against the manifest.
func TestSnapshotValuesPruned(t *testing.T) {
	g := historyGenesis()
	pr := prunedTwin(t, g, 51, 10, 30, kAlice.acct)
	sn, _, _, m := snapshotOf(t, pr)
	vals := storedValues(t, pr)
	pruned, whole := 0, 0
	for i := range m.Len() {
		k := m.Key(i)
		got, err := sn.Values(i, m.Len(), 1<<30)
		if isStub(k, vals[k]) {
			pruned++
			if !errors.Is(err, ErrPruned) || got != nil {
				t.Fatalf("Values(%d) at the stub of %q: %d values, err %v; want ErrPruned", i, k, len(got), err)
			}
			continue
		}
		whole++
		if err != nil {
			t.Fatalf("Values(%d) of %q: %v", i, k, err)
		}
		for j, v := range got {
			if err := m.Check(i+j, v); err != nil {
				t.Fatalf("Values(%d)[%d]: %v", i, j, err)
			}
		}
		if end := i + len(got); end < m.Len() && !isStub(m.Key(end), vals[m.Key(end)]) {
			t.Fatalf("Values(%d) stopped at entry %d (%q), which is no stub", i, end, m.Key(end))
		}
	}
	if pruned < 20 || whole == 0 {
		t.Fatalf("%d stubs and %d values served: want some of both", pruned, whole)
	}
}

// FuzzManifestFetch: for any manifest, Fetch's spans are ordered, disjoint
// and cover exactly the entries it does not stub, and it stubs only cleared
// and settled records of settled slots below its cut.
func FuzzManifestFetch(f *testing.F) {
	rec := func(ks ...string) []byte {
		var b []byte
		for i, k := range ks {
			b = appendRecord(b, k, &ident.Hash{byte(i)})
		}
		return b
	}
	sk := func(sl unit.Slot) string { return slotKey(sl) }
	f.Add(rec("b/x", "c/"+sk(1), "c/"+sk(2), "c/"+sk(30), "d/"+sk(1), "d/"+sk(30), "o/"+sk(40)+"/id"), int64(0))
	f.Add(rec("c/"+sk(-5), "d/"+sk(-5), "d/"+sk(20), "s/"+sk(3)+"/a"), int64(1<<40))
	f.Add([]byte{}, int64(0))
	g := testGenesis()
	c := &Chain{g: g}
	f.Fuzz(func(t *testing.T, b []byte, timeMs int64) {
		m, err := ParseManifest(b, stateHashOf(b))
		if err != nil {
			return
		}
		spans := c.Fetch(m, Block{Header: Header{Time: timeMs}})
		in := make([]bool, m.Len())
		prev := 0
		for _, sp := range spans {
			if sp[0] < prev || sp[1] <= sp[0] || sp[1] > m.Len() {
				t.Fatalf("spans %v of %d entries", spans, m.Len())
			}
			prev = sp[1]
			for i := sp[0]; i < sp[1]; i++ {
				in[i] = true
			}
		}
		stubbed := 0
		for i := range m.Len() {
			if in[i] {
				continue
			}
			stubbed++
			k := m.Key(i)
			sl, err := parseSlotKey(strings.TrimPrefix(strings.TrimPrefix(k, "c/"), "d/"))
			if err != nil || len(k) != 18 || sl >= m.cut {
				t.Fatalf("entry %d %q stubbed (cut %d)", i, k, m.cut)
			}
			if _, ok := m.keys.search(0, "d/"+k[2:]); !ok {
				t.Fatalf("entry %d %q stubbed: its slot is not settled", i, k)
			}
		}
		if stubbed != m.Stubbed() {
			t.Fatalf("Stubbed() = %d, %d entries outside the spans", m.Stubbed(), stubbed)
		}
	})
}
