package chain

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// entries serialises all of s into its key/value entries from scratch, the
// committed history included (read from the store for the records memory no
// longer holds). Blocks use diff instead; entries is the reference it is
// checked against (tests). Its cost grows with the chain's age.
func (s *state) entries() map[string]entry {
	m := s.memEntries()
	if s.hist.src == nil {
		return m
	}
	for _, pfx := range []string{"c/", "d/"} {
		err := s.hist.src.scan(pfx, func(k string, v []byte) error {
			if _, ok := m[k]; !ok {
				m[k] = storedEntry(k, v)
			}
			return nil
		})
		if err != nil {
			panic(fmt.Sprintf("chain: read history: %v", err))
		}
	}
	return m
}

// memEntries is entries without the history records that only the store
// holds (loadState's cross-check).
func (s *state) memEntries() map[string]entry {
	m := make(map[string]entry, s.participants.len()+s.balances.len()+s.txs.len()+len(s.hist.cleared)+len(s.hist.settled)+1)
	put := func(k string, v any) { m[k] = newEntry(recordJSON(v)) }
	for a, r := range s.participants.all() {
		put("a/"+string(a), r)
	}
	for a, v := range s.balances.all() {
		if v != 0 {
			put("b/"+string(a), int64(v))
		}
	}
	for _, cl := range []map[unit.Slot]clearedRec{s.hist.cleared, s.cleared} {
		for sl, r := range cl {
			m["c/"+slotKey(sl)] = r.enc
		}
	}
	for _, st := range []map[unit.Slot]settledRec{s.hist.settled, s.settled} {
		for sl, r := range st {
			m["d/"+slotKey(sl)] = r.enc
		}
	}
	for sl, ss := range s.slots.all() {
		k := slotKey(sl)
		for id, o := range ss.orders.all() {
			put("o/"+k+"/"+id, o)
		}
		for a, r := range ss.attest.all() {
			put("s/"+k+"/"+string(a), r)
		}
	}
	for h, r := range s.txs.all() {
		put("t/"+h.String(), r)
	}
	for _, e := range s.auth {
		put(authKey(e.From), authEntry{Set: e.Set})
	}
	for vk, r := range s.votes.all() {
		put(vk.key(), r)
	}
	for o, r := range s.evidence.all() {
		put(offenceKey(o), r)
	}
	for k, r := range s.upVotes.all() {
		put(k.key(), r)
	}
	for n, r := range s.upgrades.all() {
		put(upgradeKey(n), r)
	}
	for k, r := range s.relVotes.all() {
		put(k.key(), r)
	}
	for k, r := range s.released.all() {
		put(releaseKey(k), r)
	}
	put("y", s.tariff)
	return m
}

// putWritten calls put for every key of m that an execution wrote, under its
// state key, with its value and whether it is present (not deleted).
func putWritten[K comparable, V any](m *overlay[K, V], key func(K) string, put func(string, any, bool)) {
	for k := range m.delta {
		v, ok := m.get(k)
		put(key(k), v, ok)
	}
}

// diff returns the entries that s added, changed or deleted since the
// committed state it derives from (s.keys), sorted by key. It encodes only the
// entries under keys its overlays recorded a write for, the tariff, the new
// authority epochs and the new cleared and settled records; an entry whose
// digest did not change is left out.
func (s *state) diff() []keyChange {
	out := map[string]*entry{} // nil: no entry under the key
	put := func(k string, v any, present bool) {
		if !present {
			out[k] = nil
			return
		}
		e := newEntry(recordJSON(v))
		out[k] = &e
	}
	for a := range s.participants.delta {
		r, ok := s.participants.get(a)
		put("a/"+string(a), r, ok)
	}
	for a := range s.balances.delta {
		v, ok := s.balances.get(a)
		put("b/"+string(a), int64(v), ok && v != 0)
	}
	for sl, r := range s.cleared {
		out["c/"+slotKey(sl)] = &r.enc
	}
	for sl, r := range s.settled {
		out["d/"+slotKey(sl)] = &r.enc
	}
	for sl, p := range s.slots.delta {
		old, nw, k := s.slots.base[sl], p.v, slotKey(sl) // nw is nil if deleted
		order := func(id string) {
			var r orderRec
			ok := false
			if nw != nil {
				r, ok = nw.orders.get(id)
			}
			put("o/"+k+"/"+id, r, ok)
		}
		attest := func(a ident.Account) {
			var r attestRec
			ok := false
			if nw != nil {
				r, ok = nw.attest.get(a)
			}
			put("s/"+k+"/"+string(a), r, ok)
		}
		if nw != nil && old != nil && nw.parent == old {
			// Derived from the committed slot: its overlays know what changed.
			for id := range nw.orders.delta {
				order(id)
			}
			for a := range nw.attest.delta {
				attest(a)
			}
			continue
		}
		// Deleted, new, or replaced: every key of the old and the new slot.
		for _, ss := range []*slotState{old, nw} {
			if ss == nil {
				continue
			}
			for id := range ss.orders.keys() {
				order(id)
			}
			for a := range ss.attest.keys() {
				attest(a)
			}
		}
	}
	for h := range s.txs.delta {
		r, ok := s.txs.get(h)
		put("t/"+h.String(), r, ok)
	}
	for _, e := range s.auth[s.authBase:] {
		put(authKey(e.From), authEntry{Set: e.Set}, true)
	}
	putWritten(&s.votes, voteKey.key, put)
	putWritten(&s.evidence, offenceKey, put)
	putWritten(&s.upVotes, upVoteKey.key, put)
	putWritten(&s.upgrades, upgradeKey, put)
	putWritten(&s.relVotes, relVoteKey.key, put)
	putWritten(&s.released, releaseKey, put)
	put("y", s.tariff, true)

	diff := make([]keyChange, 0, len(out))
	for k, e := range out {
		i, found := s.keys.search(0, k)
		switch {
		case e == nil && found:
			diff = append(diff, keyChange{key: k, del: true})
		case e != nil && (!found || s.keys.digest(i) != e.d):
			diff = append(diff, keyChange{key: k, e: *e})
		}
	}
	slices.SortFunc(diff, func(a, b keyChange) int { return strings.Compare(a.key, b.key) })
	return diff
}

// merge walks the committed entries with diff applied, in key order: run
// gets each stretch [a, b) of unchanged committed entries, one each added or
// changed entry. diff is sorted and deletes only keys that exist. Each diff
// key is found by binary search, so the walk itself costs
// O(len(diff) log l.len()).
func merge(l *keyList, diff []keyChange, run func(a, b int), one func(*keyChange)) {
	i := 0
	for j := range diff {
		ch := &diff[j]
		n, found := l.search(i, ch.key)
		if n > i {
			run(i, n)
		}
		i = n
		if found {
			i++ // changed or deleted
		}
		if !ch.del {
			one(ch)
		}
	}
	if i < l.len() {
		run(i, l.len())
	}
}

// hashDiff is the state hash of the committed entries l with diff applied:
// SHA-256 over all entries in key order, each written as uvarint(len key),
// key, SHA-256(value). Hashing value digests rather than values keeps the
// per-block cost small, and the committed records are hashed as they lie.
func hashDiff(l *keyList, diff []keyChange) ident.Hash {
	d := sha256.New()
	d.Write([]byte(stateHashTag))
	var rec []byte
	merge(l, diff,
		func(a, b int) { l.each(a, b, func(p []byte) { d.Write(p) }) },
		func(ch *keyChange) {
			rec = appendRecord(rec[:0], ch.key, &ch.e.d)
			d.Write(rec)
		})
	var h ident.Hash
	d.Sum(h[:0])
	return h
}

// stateHash is the state hash, from scratch, of the committed keys with all
// of m's entries added (or replacing theirs).
func stateHash(keys *keyList, m map[string]entry) ident.Hash { return hashDiff(keys, changesOf(m)) }

// changesOf is m's entries as additions, sorted by key.
func changesOf(m map[string]entry) []keyChange {
	diff := make([]keyChange, 0, len(m))
	for k, e := range m {
		diff = append(diff, keyChange{key: k, e: e})
	}
	slices.SortFunc(diff, func(a, b keyChange) int { return strings.Compare(a.key, b.key) })
	return diff
}

// hash is the state hash of s given its diff: the key list of s.keys with
// diff applied, hashed from where it parts from s.keys (hashKeys); the list
// is kept for commit.
func (s *state) hash(diff []keyChange) ident.Hash {
	l := mergeKeys(s.keys, diff)
	s.merged.keys, s.merged.diff = l, diff
	h, _ := hashKeys(l, s.keys)
	return h
}
