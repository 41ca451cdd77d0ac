package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// storedEntries is every state entry in c's store (uncompressed).
func storedEntries(c *Chain) (map[string]entry, error) {
	all := map[string]entry{}
	err := walkStored(c, func(k string, v []byte) { all[k] = storedEntry(k, v) })
	return all, err
}

// walkStored calls fn with every committed state entry's key and stored
// (uncompressed) value, in key order; v is valid during the call only.
func walkStored(c *Chain, fn func(k string, v []byte)) error {
	return c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxState)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := valueOf(it.Item())
			if err != nil {
				return err
			}
			fn(string(it.Item().Key()[len(pfxState):]), v)
		}
		return nil
	})
}

// trueDiff is the diff from before to after, the simple way: every key of both.
func trueDiff(before, after map[string]entry) []keyChange {
	var d []keyChange
	for k, e := range after {
		if b, ok := before[k]; !ok || b.d != e.d {
			d = append(d, keyChange{key: k, e: e})
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			d = append(d, keyChange{key: k, del: true})
		}
	}
	slices.SortFunc(d, func(a, b keyChange) int { return strings.Compare(a.key, b.key) })
	return d
}

func showDiff(d []keyChange) string {
	var b strings.Builder
	for _, ch := range d {
		if ch.del {
			fmt.Fprintf(&b, "\n  -%s", ch.key)
		} else {
			fmt.Fprintf(&b, "\n  +%s = %s", ch.key, ch.e.v)
		}
	}
	return b.String()
}

// checkDiff fails unless got (an incremental diff) is want (trueDiff), value
// bytes included.
func checkDiff(t *testing.T, what string, got, want []keyChange) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.key == w.key && g.del == w.del && (g.del || bytes.Equal(g.e.v, w.e.v) && g.e.d == w.e.d && g.e.d == newEntry(g.e.v).d)
	}
	if !same {
		t.Fatalf("%s: incremental diff%s\nwant (from scratch)%s", what, showDiff(got), showDiff(want))
	}
}

// keyDigest is a state key and the digest of its value.
type keyDigest struct {
	key string
	d   ident.Hash
}

// listOf is the entries of l, in order.
func listOf(l *keyList) []keyDigest {
	out := make([]keyDigest, l.len())
	for i := range out {
		out[i] = keyDigest{string(l.key(i)), l.digest(i)}
	}
	return out
}

// checkKeys fails unless the committed state's key list is the one built from
// its from-scratch entries, and returns those entries.
func checkKeys(t *testing.T, what string, st *state) map[string]entry {
	t.Helper()
	full := st.entries()
	want := make([]keyDigest, 0, len(full))
	for _, k := range slices.Sorted(maps.Keys(full)) {
		want = append(want, keyDigest{k, full[k].d})
	}
	if got := listOf(st.keys); !slices.Equal(got, want) {
		n := min(len(got), len(want))
		i := 0
		for i < n && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: committed key list has %d keys, from scratch %d; first difference at %d", what, len(got), len(want), i)
	}
	scratch := mergeKeys(nil, changesOf(full))
	if !bytes.Equal(st.keys.bytes(), scratch.bytes()) || st.keys.len() != scratch.len() {
		t.Fatalf("%s: committed key list's records differ from those built from scratch", what)
	}
	return full
}

// checkCommitted checks c's committed state: its key list, its state hash and
// its store against the from-scratch entries.
func checkCommitted(t *testing.T, what string, c *Chain) {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	full := checkKeys(t, what, c.st)
	if got, want := stateHash(nil, full), c.status.StateHash; got != want {
		t.Fatalf("%s: state hash from scratch %s, committed %s", what, got, want)
	}
	stored, err := storedEntries(c)
	if err != nil {
		t.Fatalf("%s: read store: %v", what, err)
	}
	checkDiff(t, what+": store against state", trueDiff(full, stored), nil)
}

// TestIncrementalState is the safety net of incremental state: many random
// blocks of orders, cancels, attestations, admissions, tariff changes,
// authority votes and evidence, with clearing, settlement and pruning, on a
// disk store with a follower. For every block the incremental diff of the
// proposed execution must equal the diff of the from-scratch entries, the
// header's state hash the from-scratch hash, and after the commit the
// committed key list and the store the from-scratch entries. A side execution
// prunes with a tiny budget each block, and the store is reopened halfway and
// at the end.
func TestIncrementalState(t *testing.T) {
	g := testGenesis()
	g.SlotSeconds, g.OpenLeadSeconds, g.GateLeadSeconds, g.AttestWindowSeconds = 10, 40, 5, 10
	g.Authorities = []ident.Account{kAuths[0].acct, kAuths[1].acct, kAuths[2].acct, kAuths[3].acct}
	auths := map[ident.Account]key{}
	for _, k := range kAuths {
		auths[k.acct] = k
	}
	verifier := func(_ string, a, b []byte) (Offence, error) {
		if len(b) != 9 {
			return Offence{}, errors.New("not test evidence")
		}
		return Offence{Offender: ident.Account(a), Height: binary.BigEndian.Uint64(b), Round: int32(b[8] % 3), Type: 2 + b[8]%2}, nil
	}
	dir := t.TempDir()
	c := openDir(t, dir, g)
	defer func() { c.Close() }()
	c.SetEvidenceVerifier(verifier)
	follower := openMem(t, g)
	follower.SetEvidenceVerifier(verifier)

	rng := rand.New(rand.NewPCG(3, 4))
	homes := []key{kAlice, kBob}
	var candidates []key // not yet admitted
	for i := range 12 {
		candidates = append(candidates, newKey(fmt.Sprint("incremental home ", i)))
	}
	var orders []Tx
	now := g.Epoch*1000 + 1000
	nonce := uint64(0)
	blocks, kinds := 0, map[TxKind]int{}
	pruned := 0
	for step := 0; step < 400; step++ {
		now += int64(300 + rng.IntN(2500))
		height := c.Head().Height + 1
		set, err := c.Authorities(height)
		if err != nil {
			t.Fatal(err)
		}
		anyAuth := func() key { return auths[set[rng.IntN(len(set))]] }
		var txs []Tx
		for range rng.IntN(10) {
			nonce++
			h := homes[rng.IntN(len(homes))]
			open := c.OpenSlots(now)
			switch r := rng.IntN(20); {
			case r < 9 && len(open) > 0:
				side := market.Buy
				if rng.IntN(2) == 0 {
					side = market.Sell
				}
				txs = append(txs, orderTx(h, side, open[rng.IntN(len(open))], unit.Wh(1+rng.IntN(2000)), unit.Price(40_000+rng.IntN(270_000)), nonce))
			case r < 11 && len(orders) > 0:
				o := orders[rng.IntN(len(orders))]
				owner := h
				for _, hh := range homes {
					if hh.acct == o.From {
						owner = hh
					}
				}
				txs = append(txs, sign(owner, Tx{Nonce: nonce, Cancel: &Cancel{Order: o.Hash()}}))
			case r < 15:
				s := g.SlotAt(now) - unit.Slot(rng.IntN(3))
				txs = append(txs, attestTx(h, s, unit.Wh(rng.IntN(3000)), unit.Wh(rng.IntN(3000))))
			case r == 15 && len(candidates) > 0:
				p := candidates[0]
				candidates = candidates[1:]
				homes = append(homes, p)
				txs = append(txs, sign(anyAuth(), Tx{Nonce: nonce, Admit: &Admit{Participant: p.acct, Name: fmt.Sprint("home ", nonce)}}))
			case r == 16:
				tf := Tariff{Floor: unit.Price(30_000 + rng.IntN(30_000)), Ceiling: unit.Price(280_000 + rng.IntN(40_000)), Fee: unit.Price(rng.IntN(30_000)), Seq: c.Tariff().Seq + 1}
				txs = append(txs, sign(anyAuth(), Tx{Nonce: nonce, Tariff: &tf}))
			case r == 17 || r == 18:
				target := kAuths[rng.IntN(len(kAuths))]
				txs = append(txs, voteTx(anyAuth(), rng.IntN(2) == 0, target, nonce))
			default:
				off := set[rng.IntN(len(set))]
				var b [9]byte
				binary.BigEndian.PutUint64(b[:], height-uint64(rng.IntN(int(min(height, 3)))))
				b[8] = byte(rng.IntN(4))
				txs = append(txs, evidenceTx(h, []byte(off), b[:], nonce))
			}
		}
		if len(txs) == 0 && !c.Due(now) && rng.IntN(4) != 0 {
			continue
		}
		before := committedEntries(c)
		b, errs := c.Propose(now, anyAuth().acct, txs)
		for i, e := range errs {
			if e == nil {
				kinds[txs[i].Kind]++
				if txs[i].Kind == TxOrder {
					orders = append(orders, txs[i])
				}
			}
		}
		what := fmt.Sprintf("block %d", b.Header.Height)
		c.mu.Lock()
		ex := c.cache[b.Hash()]
		after := ex.st.entries()
		c.mu.Unlock()
		checkDiff(t, what, ex.diff, trueDiff(before, after))
		if got := stateHash(nil, after); got != b.Header.StateHash {
			t.Fatalf("%s: state hash from scratch %s, header %s", what, got, b.Header.StateHash)
		}
		if err := follower.Validate(b, now); err != nil {
			t.Fatalf("%s: follower: %v", what, err)
		}
		if _, err := c.Commit(b, nil); err != nil {
			t.Fatalf("%s: commit: %v", what, err)
		}
		if _, err := follower.Commit(b, nil); err != nil {
			t.Fatalf("%s: follower commit: %v", what, err)
		}
		blocks++
		checkCommitted(t, what, c)
		if c.Status() != follower.Status() {
			t.Fatalf("%s: status %+v, follower %+v", what, c.Status(), follower.Status())
		}

		// A side execution that settles every slot with orders and prunes
		// with a tiny budget (slots half pruned), discarded afterwards.
		c.mu.Lock()
		side := c.st.clone()
		for sl := range side.slots.keys() {
			if !side.isSettled(sl) {
				side.settled[sl] = newSettled(market.Settlement{Slot: sl})
			}
		}
		side.prune(1 + rng.IntN(8))
		d := side.diff()
		pruned += len(d)
		checkDiff(t, what+": pruned with a small budget", d, trueDiff(c.st.entries(), side.entries()))
		if got, want := side.hash(d), stateHash(nil, side.entries()); got != want {
			t.Fatalf("%s: pruned with a small budget: state hash %s, from scratch %s", what, got, want)
		}
		c.mu.Unlock()

		if step == 200 {
			want := c.Status()
			c.Close()
			c = openDir(t, dir, g)
			c.SetEvidenceVerifier(verifier)
			if got := c.Status(); got != want {
				t.Fatalf("reopened at %s: status %+v, want %+v", what, got, want)
			}
			checkCommitted(t, "reopened at "+what, c)
		}
	}
	t.Logf("%d blocks, txs included by kind %v, %d side prunes", blocks, kinds, pruned)
	for _, k := range []TxKind{TxOrder, TxCancel, TxAttest, TxAdmit, TxTariff, TxAuthority, TxEvidence} {
		if kinds[k] == 0 {
			t.Errorf("no %s tx was included: the test does not cover it", k)
		}
	}
	if st := c.Status(); st.LastSettled < 10 {
		t.Errorf("only slots up to %d settled", st.LastSettled)
	}
	if pruned == 0 {
		t.Errorf("the side executions pruned nothing")
	}
	c.mu.RLock()
	if len(c.st.auth) < 3 {
		t.Errorf("%d authority epochs: votes decided too little", len(c.st.auth))
	}
	c.mu.RUnlock()
	want := c.Status()
	c.Close()
	c = openDir(t, dir, g)
	if got := c.Status(); got != want {
		t.Fatalf("reopened: status %+v, want %+v", got, want)
	}
	checkCommitted(t, "reopened", c)
}

func committedEntries(c *Chain) map[string]entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.entries()
}

// TestOverlayDiff drives the state's maps directly with random writes that no
// transaction would make (deleted and re-created slots, zero balances, keys
// written and deleted again, history records, authority epochs), and checks
// the incremental diff, hash and committed key list against from-scratch
// entries; executions that are discarded must leave the committed state as it
// was.
func TestOverlayDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	st := newState(testGenesis())
	st.commit(st.diff())
	checkKeys(t, "genesis", st)
	accts := []ident.Account{kAlice.acct, kBob.acct, kCarol.acct, kMallory.acct}
	nextSlot := unit.Slot(100)
	for round := range 600 {
		what := fmt.Sprintf("round %d", round)
		before := st.entries()
		x := st.clone()
		for range rng.IntN(12) {
			a := accts[rng.IntN(len(accts))]
			sl := unit.Slot(rng.IntN(4))
			h := ident.Hash{byte(rng.IntN(6))}
			vk := voteKey{change{Add: rng.IntN(2) == 0, Key: a}, accts[rng.IntN(len(accts))]}
			off := Offence{Offender: a, Height: uint64(rng.IntN(3))}
			set := rng.IntN(3) != 0
			switch rng.IntN(11) {
			case 0:
				if set {
					x.participants.set(a, admission{Name: fmt.Sprint(rng.IntN(3))})
				} else {
					x.participants.del(a)
				}
			case 1:
				if set {
					x.balances.set(a, unit.Money(rng.IntN(3)-1))
				} else {
					x.balances.del(a)
				}
			case 2:
				if set {
					x.txs.set(h, txRec{Height: uint64(rng.IntN(3)), Slot: sl})
				} else {
					x.txs.del(h)
				}
			case 3:
				if set {
					x.votes.set(vk, voteRec{Height: uint64(rng.IntN(2))})
				} else {
					x.votes.del(vk)
				}
			case 4:
				if set {
					x.evidence.set(off, evidenceRec{Reporter: a, Block: uint64(rng.IntN(2))})
				} else {
					x.evidence.del(off)
				}
			case 5, 6:
				id := fmt.Sprint("order ", rng.IntN(5))
				if set {
					x.slot(sl).orders.set(id, orderRec{Order: market.Order{ID: id, Energy: unit.Wh(rng.IntN(3))}, Cancelled: rng.IntN(2) == 0})
				} else if x.slots.has(sl) {
					x.slot(sl).orders.del(id)
				}
			case 7:
				if set {
					x.slot(sl).attest.set(a, attestRec{Import: unit.Wh(rng.IntN(3))})
				} else if x.slots.has(sl) {
					x.slot(sl).attest.del(a)
				}
			case 8:
				x.slots.del(sl)
			case 9:
				x.tariff.Seq = uint64(rng.IntN(2))
				if rng.IntN(20) == 0 {
					last := x.auth[len(x.auth)-1]
					x.auth = append(x.auth, authEpoch{From: last.From + 1 + uint64(rng.IntN(3)), Set: accts[:1+rng.IntN(3)]})
				}
			case 10:
				if rng.IntN(2) == 0 {
					x.cleared[nextSlot] = newCleared(market.Result{Slot: nextSlot, Volume: unit.Wh(rng.IntN(3))}, market.Tariff{})
				} else {
					x.settled[nextSlot] = newSettled(market.Settlement{Slot: nextSlot})
				}
				nextSlot++
			}
		}
		d := x.diff()
		after := x.entries()
		checkDiff(t, what, d, trueDiff(before, after))
		if got, want := x.hash(d), stateHash(nil, after); got != want {
			t.Fatalf("%s: state hash %s, from scratch %s", what, got, want)
		}
		if rng.IntN(3) == 0 {
			// Discarded: the committed state must not have changed.
			checkDiff(t, what+": committed state after a discarded execution", trueDiff(before, st.entries()), nil)
			continue
		}
		x.commit(d)
		st = x
		checkKeys(t, what, st)
	}
}

// TestCommittedStateFrozen: a write to the committed state panics instead of
// changing it behind the incremental bookkeeping's back.
func TestCommittedStateFrozen(t *testing.T) {
	c := openMem(t, testGenesis())
	for name, write := range map[string]func(){
		"participants": func() { c.st.participants.set(kMallory.acct, admission{}) },
		"txs":          func() { c.st.txs.del(ident.Hash{1}) },
		"derived twice": func() {
			x := c.st.clone()
			x.txs.set(ident.Hash{1}, txRec{})
			x.clone()
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: write to the committed state did not panic", name)
				}
			}()
			write()
		}()
	}
	if c.st.participants.has(kMallory.acct) {
		t.Errorf("the committed state changed")
	}
}
