package chain

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
)

// TestPruneHome: a home's pruning stubs the old cleared and settled records
// and the other accounts' old index lines, keeps the state hash (the state
// from scratch, the store and a reopen agree with every header), keeps the
// home's own statement whole, goes on executing blocks, and survives an index
// rebuild at Open.
func TestPruneHome(t *testing.T) {
	g := historyGenesis()
	dir := t.TempDir()
	c := openDir(t, dir, g)
	defer func() { c.Close() }()
	rng := rand.New(rand.NewPCG(21, 22))
	settled := tradeSlots(t, c, rng, 10, 60, nil)
	self, other := kAlice.acct, kBob.acct
	all := func(a ident.Account) []StatementLine { return c.Statement(a, math.MinInt64, math.MaxInt64) }
	wantSelf, wantOther := all(self), all(other)
	if len(wantSelf) < 10 || len(wantOther) < 10 {
		t.Fatalf("too few lines to test: %d and %d", len(wantSelf), len(wantOther))
	}
	below := c.Head().Height - 20
	blocks, slots, err := c.PruneHome(below, self)
	if err != nil {
		t.Fatal(err)
	}
	oldest, _, err := c.Block(below)
	if err != nil {
		t.Fatal(err)
	}
	cut := g.SlotAt(oldest.Header.Time)
	var prunedSlots int
	for sl := range settled {
		_, okR := c.Result(sl)
		_, okS := c.Settlement(sl)
		if sl < cut-1 && (okR || okS) {
			t.Errorf("slot %d (below %d): Result %v, Settlement %v after pruning; want both pruned", sl, cut, okR, okS)
		}
		if sl >= cut && (!okR || !okS) {
			t.Errorf("slot %d (at or above %d): Result %v, Settlement %v; want both kept", sl, cut, okR, okS)
		}
		if !okS {
			prunedSlots++
		}
	}
	if blocks == 0 || slots != prunedSlots || slots < 10 {
		t.Fatalf("PruneHome(%d): %d blocks, %d slots; %d settled slots report none (want %d = slots, at least 10)", below, blocks, slots, prunedSlots, slots)
	}
	check := func(what string) {
		t.Helper()
		checkCommitted(t, what, c)
		if got := all(self); !reflect.DeepEqual(got, wantSelf) {
			t.Fatalf("%s: own statement has %d lines, want the %d before pruning", what, len(got), len(wantSelf))
		}
		var keep []StatementLine
		for _, l := range wantOther {
			if l.Slot >= cut-1 {
				keep = append(keep, l)
			}
		}
		if got := c.Statement(other, cut-1, math.MaxInt64); !reflect.DeepEqual(got, keep) {
			t.Fatalf("%s: another account's statement from slot %d has %d lines, want %d", what, cut-1, len(got), len(keep))
		}
		if got := c.Statement(other, math.MinInt64, cut-1); len(got) > 0 && got[0].Slot < cut-6 {
			t.Fatalf("%s: another account's line of pruned slot %d is still there", what, got[0].Slot)
		}
	}
	check("pruned")
	tradeSlots(t, c, rng, 10+6*60, 5, nil)
	if _, _, err := c.Block(below - 1); !errors.Is(err, ErrPruned) {
		t.Fatalf("Block(%d): %v, want ErrPruned", below-1, err)
	}
	wantSelf, wantOther = all(self), all(other)
	c.Close()
	c = openDir(t, dir, g)
	check("reopened")

	// An index rebuild (here: its record says another height) keeps the
	// pruned slots' lines, which it cannot derive again.
	head := c.Status()
	c.Close()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(keyIndex), indexRecord(head.Height-1)) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	c = openDir(t, dir, g)
	check("index rebuilt")
	if c.Status() != head {
		t.Fatalf("status after the rebuild %+v, want %+v", c.Status(), head)
	}
	// Pruning again prunes only what became old since.
	// (the 5 slots traded since and those left above the first cut: fewer than 12)
	if _, slots, err := c.PruneHome(c.Head().Height-5, self); err != nil || slots == 0 || slots >= 12 {
		t.Fatalf("PruneHome again: %d slots, %v; want 1 to 11", slots, err)
	}
	checkCommitted(t, "pruned again", c)
}
