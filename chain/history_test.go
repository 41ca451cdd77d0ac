package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// historyGenesis is testGenesis with carol admitted too.
func historyGenesis() Genesis {
	g := testGenesis()
	g.Participants = append(g.Participants, kCarol.acct)
	return g
}

// tradeSlots commits n slots' whole lives on c, one slot every 6 (their
// windows do not overlap), from slot first on, with random orders and
// attestations from alice, bob and carol, some slots trading nothing. It
// returns the settlements committed, by slot, and calls each (if not nil)
// after every block.
func tradeSlots(t *testing.T, c *Chain, rng *rand.Rand, first unit.Slot, n int, each func()) map[unit.Slot]market.Settlement {
	t.Helper()
	settled := map[unit.Slot]market.Settlement{}
	keys := []key{kAlice, kBob, kCarol}
	step := func(now int64, txs ...Tx) {
		_, evs := produce(t, c, now, txs...)
		for _, ev := range evs {
			if ev, ok := ev.(SlotSettled); ok {
				settled[ev.Slot] = ev.Settlement
			}
		}
		if each != nil {
			each()
		}
	}
	for i := range n {
		s := first + unit.Slot(6*i)
		var orders []Tx
		for j, k := range keys {
			if rng.IntN(4) == 0 {
				continue
			}
			side := market.Sell
			if j == 1 || (j == 2 && rng.IntN(2) == 0) {
				side = market.Buy
			}
			orders = append(orders, orderTx(k, side, s, unit.Wh(100+rng.IntN(900)), unit.Price(60_000+rng.IntN(200_000)), uint64(i)))
		}
		step(ms(s, -200), orders...)
		step(ms(s, -60))
		var att []Tx
		for _, k := range keys {
			if rng.IntN(3) != 0 {
				att = append(att, attestTx(k, s, unit.Wh(rng.IntN(800)), unit.Wh(rng.IntN(800))))
			}
		}
		if r, ok := c.Result(s); !ok || len(r.Trades) == 0 {
			att = nil // a slot that traded nothing settled at clearing
		}
		step(ms(s, 61), att...)
		step(ms(s, 125))
	}
	return settled
}

// refStatement is the statement of a computed the simple way: every settled
// slot in [from, to), in order, by the rule StatementLine documents, with the
// price of the slot's clearing result (c.Result).
func refStatement(c *Chain, settled map[unit.Slot]market.Settlement, a, op ident.Account, from, to unit.Slot) []StatementLine {
	var out []StatementLine
	for _, sl := range slices.Sorted(func(yield func(unit.Slot) bool) {
		for sl := range settled {
			if !yield(sl) {
				return
			}
		}
	}) {
		if sl < from || sl >= to {
			continue
		}
		st := settled[sl]
		res, _ := c.Result(sl)
		l := StatementLine{Slot: sl, Price: res.Price}
		involved := false
		for _, tr := range st.Trades {
			if tr.Buyer == string(a) {
				l.Bought += tr.Settled
				l.Paid += tr.Paid
				involved = true
			}
			if tr.Seller == string(a) {
				l.Sold += tr.Settled
				l.Received += tr.Received
				involved = true
			}
			if a == op {
				l.Fees += tr.Fee
			}
		}
		for _, tr := range st.Transfers {
			if tr.Account == string(a) {
				l.Net = tr.Amount
				involved = true
			}
		}
		if involved {
			out = append(out, l)
		}
	}
	return out
}

// checkStatements compares c's statements of every account with the
// reference over the whole range and random sub-ranges, and that the Nets add
// up to the balances.
func checkStatements(t *testing.T, what string, c *Chain, settled map[unit.Slot]market.Settlement, rng *rand.Rand) {
	t.Helper()
	g := c.Genesis()
	accts := []ident.Account{kAlice.acct, kBob.acct, kCarol.acct, kOperator.acct, kMallory.acct}
	last := c.Status().LastSettled
	bal := c.Balances()
	for _, a := range accts {
		ranges := [][2]unit.Slot{{math.MinInt64, math.MaxInt64}, {0, last + 1}, {last, last}, {last + 1, 0}}
		for range 20 {
			from := unit.Slot(rng.IntN(int(last) + 20))
			ranges = append(ranges, [2]unit.Slot{from, from + unit.Slot(rng.IntN(200))})
		}
		for _, r := range ranges {
			got := c.Statement(a, r[0], r[1])
			want := refStatement(c, settled, a, g.Operator, r[0], r[1])
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Statement(%.8s, %d, %d) has %d lines, the reference %d:\n got %v\nwant %v", what, a, r[0], r[1], len(got), len(want), got, want)
			}
			var sum StatementLine
			for _, l := range want {
				sum.Slot++
				sum.Bought, sum.Sold, sum.Paid, sum.Received = sum.Bought+l.Bought, sum.Sold+l.Sold, sum.Paid+l.Paid, sum.Received+l.Received
				sum.Fees, sum.Net = sum.Fees+l.Fees, sum.Net+l.Net
			}
			if got, err := c.StatementSum(a, r[0], r[1]); err != nil || got != sum {
				t.Fatalf("%s: StatementSum(%.8s, %d, %d) = %+v, %v; the reference's sums %+v", what, a, r[0], r[1], got, err, sum)
			}
		}
		var sum unit.Money
		for _, l := range c.Statement(a, math.MinInt64, math.MaxInt64) {
			sum += l.Net
		}
		if sum != bal[a] {
			t.Fatalf("%s: statement of %.8s nets %d, balance %d", what, a, sum, bal[a])
		}
	}
}

// TestHistoryBounded: a chain with many settled slots holds a bounded number
// of cleared and settled records in memory (counted, not timed), on disk and
// in memory, and still answers Result and Settlement for every slot from the
// store, after a reopen too.
func TestHistoryBounded(t *testing.T) {
	const slots = 200 // 1,200 slot numbers: far beyond histWindow
	for _, onDisk := range []bool{false, true} {
		t.Run(fmt.Sprint("disk=", onDisk), func(t *testing.T) {
			g := historyGenesis()
			dir := t.TempDir()
			var c *Chain
			if onDisk {
				c = openDir(t, dir, g)
			} else {
				c = openMem(t, g)
			}
			// Slots are 6 apart: the window holds histWindow/6+1 of them, plus
			// the slots not yet pruned (at most 2 here), two records each.
			bound := 2 * (histWindow/6 + 1 + 2)
			most := 0
			settled := tradeSlots(t, c, rand.New(rand.NewPCG(1, 2)), 10, slots, func() {
				c.mu.RLock()
				most = max(most, c.st.hist.held())
				c.mu.RUnlock()
			})
			if most > bound {
				t.Errorf("memory held up to %d history records, bound %d", most, bound)
			}
			if len(settled) < slots*9/10 { // a slot nobody ordered in is not settled
				t.Fatalf("%d slots settled of %d", len(settled), slots)
			}
			check := func(what string) {
				t.Helper()
				for sl, want := range settled {
					got, ok := c.Settlement(sl)
					if !ok || !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: Settlement(%d) = %v, %v; want %v", what, sl, got, ok, want)
					}
					if _, ok := c.Result(sl); !ok {
						t.Fatalf("%s: Result(%d) missing", what, sl)
					}
					if _, ok := c.Settlement(sl + 1); ok {
						t.Fatalf("%s: Settlement(%d) of a slot without orders", what, sl+1)
					}
				}
				checkCommitted(t, what, c)
			}
			check("after the run")
			if !onDisk {
				return
			}
			want := c.Status()
			c.Close()
			c = openDir(t, dir, g)
			defer c.Close()
			if got := c.Status(); got != want {
				t.Fatalf("reopened: status %+v, want %+v", got, want)
			}
			c.mu.RLock()
			held := c.st.hist.held()
			c.mu.RUnlock()
			if held > bound {
				t.Errorf("reopened: memory holds %d history records, bound %d", held, bound)
			}
			check("reopened")
			// It goes on as before.
			tradeSlots(t, c, rand.New(rand.NewPCG(3, 4)), 10+6*slots, 5, nil)
			checkCommitted(t, "reopened and continued", c)
		})
	}
}

// TestStatementIndex: Statement over the account index equals the full scan
// of every settled slot (a deliberately simple reference), for every account
// and random ranges, on a chain whose old history memory no longer holds.
func TestStatementIndex(t *testing.T) {
	c := openMem(t, historyGenesis())
	rng := rand.New(rand.NewPCG(7, 8))
	all := map[unit.Slot]market.Settlement{}
	for round := range 4 {
		for sl, st := range tradeSlots(t, c, rng, 10+unit.Slot(6*40*round), 40, nil) {
			all[sl] = st
		}
		checkStatements(t, fmt.Sprint("round ", round), c, all, rng)
	}
	lines := c.Statement(kOperator.acct, math.MinInt64, math.MaxInt64)
	if len(lines) == 0 {
		t.Fatalf("the operator earned no fees: the run traded nothing")
	}
	if !slices.ContainsFunc(lines, func(l StatementLine) bool { return l.Price > 0 }) {
		t.Errorf("no line of the operator's %d has a price: the prices are not checked", len(lines))
	}
}

// TestOldStoreMigrates: a data directory without the account index (written
// before it existed), or whose index stops short of the head (blocks committed
// by such a binary), opens, rebuilds the index and gives the same statements.
func TestOldStoreMigrates(t *testing.T) {
	g := historyGenesis()
	for _, damage := range []string{"no index", "index behind the head", "index of another version", "version 1 lines without the price"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			c := openDir(t, dir, g)
			rng := rand.New(rand.NewPCG(9, 10))
			settled := tradeSlots(t, c, rng, 10, 30, nil)
			checkStatements(t, "before", c, settled, rng)
			head := c.Status()
			c.Close()

			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(txn *badger.Txn) error {
				switch damage {
				case "no index":
					// What an old binary's store holds: no A/ keys, no index record.
					it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxAccount)})
					var ks [][]byte
					for it.Rewind(); it.Valid(); it.Next() {
						ks = append(ks, it.Item().KeyCopy(nil))
					}
					it.Close()
					if len(ks) == 0 {
						return fmt.Errorf("the store has no account index to delete")
					}
					for _, k := range ks {
						if err := txn.Delete(k); err != nil {
							return err
						}
					}
					return txn.Delete([]byte(keyIndex))
				case "index behind the head":
					// The last slots' lines are missing, as after an old binary committed them.
					for a := range linesOf(head.LastSettled, settled[head.LastSettled], 0, g.Operator) {
						if err := txn.Delete(accountKey(a, head.LastSettled)); err != nil {
							return err
						}
					}
					return txn.Set([]byte(keyIndex), indexRecord(head.Height-3))
				case "version 1 lines without the price":
					// What the binary before the price wrote: six varints per line.
					return writeV1Index(txn, head.Height)
				default:
					return txn.Set([]byte(keyIndex), recordJSON(indexRec{Version: indexVersion + 1, Height: head.Height}))
				}
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}

			c = openDir(t, dir, g)
			defer c.Close()
			if got := c.Status(); got != head {
				t.Fatalf("reopened: status %+v, want %+v", got, head)
			}
			checkStatements(t, "migrated", c, settled, rng)
			tradeSlots(t, c, rng, 10+6*30, 3, nil) // and it goes on
		})
	}
}

// writeV1Index rewrites every account index line in version 1's encoding
// (Bought, Sold, Paid, Received, Fees, Net; no price) under a version 1 record
// complete up to height.
func writeV1Index(txn *badger.Txn, height uint64) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxAccount)})
	var ks, vs [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().KeyCopy(nil)
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		l, err := decodeLine(0, v)
		if err != nil {
			it.Close()
			return err
		}
		var old []byte
		for _, x := range []int64{int64(l.Bought), int64(l.Sold), int64(l.Paid), int64(l.Received), int64(l.Fees), int64(l.Net)} {
			old = binary.AppendVarint(old, x)
		}
		ks, vs = append(ks, k), append(vs, old)
	}
	it.Close()
	if len(ks) == 0 {
		return fmt.Errorf("the store has no account index to rewrite")
	}
	for i := range ks {
		if err := txn.Set(ks[i], vs[i]); err != nil {
			return err
		}
	}
	return txn.Set([]byte(keyIndex), recordJSON(indexRec{Version: 1, Height: height}))
}

// TestPruneBlocksBefore: pruning by time deletes exactly the bodies of the
// blocks older than the given time (genesis and head kept), and again later
// only the newly old ones.
func TestPruneBlocksBefore(t *testing.T) {
	c := openMem(t, historyGenesis())
	tradeSlots(t, c, rand.New(rand.NewPCG(11, 12)), 10, 12, nil)
	head := c.Head().Height
	times := map[uint64]int64{}
	for h := uint64(0); h <= head; h++ {
		b, _, err := c.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		times[h] = b.Header.Time
	}
	for _, cut := range []uint64{5, 5, 20, head + 5} {
		tMs := times[min(cut, head)]
		if cut > head {
			tMs = times[head] + 1 // everything older than the head
		}
		if _, err := c.PruneBlocksBefore(tMs); err != nil {
			t.Fatal(err)
		}
		for h := uint64(0); h <= head; h++ {
			_, _, err := c.Block(h)
			wantPruned := h > 0 && h < head && times[h] < tMs
			if gotPruned := errors.Is(err, ErrPruned); gotPruned != wantPruned || (err != nil && !gotPruned) {
				t.Fatalf("cut at %d ms: Block(%d) (time %d): %v, want pruned %v", tMs, h, times[h], err, wantPruned)
			}
		}
	}
}

// BenchmarkStateHashYear is the per-block state hash and key-list merge at a
// year of 15-minute slots: 35,040 settled slots (a c/ and a d/ record each)
// beside 2,000 other entries, with a block's diff of 300 entries. It is the
// part of a block's cost that still grows with the chain's age (doc.go,
// Known limits).
func BenchmarkStateHashYear(b *testing.B) {
	m := map[string]entry{}
	for sl := range unit.Slot(35_040) {
		m["c/"+slotKey(sl)] = newEntry([]byte(fmt.Sprint("c", sl)))
		m["d/"+slotKey(sl)] = newEntry([]byte(fmt.Sprint("d", sl)))
	}
	for i := range 2_000 {
		m[fmt.Sprintf("b/%064d", i)] = newEntry([]byte(fmt.Sprint(i)))
	}
	keys := mergeKeys(nil, changesOf(m))
	d := map[string]entry{}
	for i := range 300 {
		d[fmt.Sprintf("t/%064d", i)] = newEntry([]byte(fmt.Sprint(i)))
	}
	diff := changesOf(d)
	b.ReportMetric(float64(keys.size()), "keylist-bytes")
	b.Run("hash", func(b *testing.B) {
		for b.Loop() {
			hashDiff(keys, diff)
		}
	})
	b.Run("merge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mergeKeys(keys, diff)
		}
	})
	// What a block's state.hash does: merge, then hash from the SHA-256
	// state kept before the first chunk the diff touches. A block of
	// orders (t/ keys, after the history) and one that also changes a
	// balance (b/, before it).
	hashKeys(keys, nil) // keeps the states
	settle := changesOf(maps.Collect(func(yield func(string, entry) bool) {
		maps.All(d)(yield)
		yield(fmt.Sprintf("b/%064d", 7), newEntry([]byte("paid")))
	}))
	for _, bc := range []struct {
		name string
		diff []keyChange
	}{{"merge+hashKeys/orders", diff}, {"merge+hashKeys/settlement", settle}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				hashKeys(mergeKeys(keys, bc.diff), keys)
			}
		})
	}
}

// FuzzDecodeLine: decodeLine (which reads the account index from the store)
// never panics, refuses version 1's six-varint lines, and what it accepts
// encodes back to a line it decodes to the same values.
func FuzzDecodeLine(f *testing.F) {
	f.Add(encodeLine(StatementLine{Bought: 100, Paid: -18165, Net: -18165, Price: 181654}))
	f.Add(encodeLine(StatementLine{Sold: math.MaxInt64, Received: math.MinInt64}))
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	if _, err := decodeLine(0, []byte{0, 0, 0, 0, 0, 0}); err == nil {
		f.Errorf("decodeLine accepted a version 1 line (six varints)")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLine(7, b)
		if err != nil {
			return
		}
		if l.Slot != 7 {
			t.Fatalf("decodeLine(7, %x): slot %d", b, l.Slot)
		}
		if got, err := decodeLine(7, encodeLine(l)); err != nil || got != l {
			t.Fatalf("decodeLine(7, %x) = %+v; encoded again and decoded: %+v, %v", b, l, got, err)
		}
	})
}
