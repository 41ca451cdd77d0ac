package chain

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyListMerge: a key list merged diff by diff holds the records a list
// built from scratch holds, hashes the same, stays in chunks of at most
// 2·chunkRecords records that are not fragmented by deletes (at most twice
// the chunks a full packing needs, plus one), and shares the chunks a diff
// does not touch with its parent; hashKeys, which starts from the SHA-256
// state kept before the first chunk a list does not share, gives the same
// hash.
func TestKeyListMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := map[string]entry{}
	var l *keyList
	resumed := 0 // rounds whose hashKeys started past the first chunk
	for round := range 300 {
		d := map[string]*entry{} // nil: delete
		prefixes := "abcd"
		if round%3 == 0 {
			prefixes = "d" // a diff at the list's end, as a block of orders makes
		}
		for range 1 + rng.IntN(40) {
			k := fmt.Sprintf("%c/%06d", prefixes[rng.IntN(len(prefixes))], rng.IntN(5_000))
			if _, ok := m[k]; ok && rng.IntN(3) == 0 {
				d[k] = nil
				continue
			}
			e := newEntry([]byte(fmt.Sprint(round, k)))
			d[k] = &e
		}
		if round%50 == 0 { // a large insertion at the end of a prefix, as a year of slots makes
			for i := range 2_000 {
				e := newEntry([]byte(fmt.Sprint(round, i)))
				d[fmt.Sprintf("c/%06d", 5_000+round*2_000+i)] = &e
			}
		}
		var diff []keyChange
		for _, k := range slices.Sorted(maps.Keys(d)) {
			if d[k] == nil {
				diff = append(diff, keyChange{key: k, del: true})
				delete(m, k)
			} else {
				diff = append(diff, keyChange{key: k, e: *d[k]})
				m[k] = *d[k]
			}
		}
		wantHash := hashDiff(l, diff)
		next := mergeKeys(l, diff)
		scratch := mergeKeys(nil, changesOf(m))
		if got, want := next.len(), len(m); got != want {
			t.Fatalf("round %d: merged list has %d records, want %d", round, got, want)
		}
		if !bytes.Equal(next.bytes(), scratch.bytes()) {
			t.Fatalf("round %d: merged list's records differ from those built from scratch", round)
		}
		if got := hashDiff(next, nil); got != wantHash {
			t.Fatalf("round %d: merged list hashes to %s, the parent with the diff to %s", round, got, wantHash)
		}
		if got := stateHash(nil, m); got != wantHash {
			t.Fatalf("round %d: from scratch the state hashes to %s, the merge to %s", round, got, wantHash)
		}
		got, from := hashKeys(next, l)
		if got != wantHash {
			t.Fatalf("round %d: hashKeys from chunk %d of %d = %s, want %s", round, from, len(next.chunks), got, wantHash)
		}
		if from > 0 {
			resumed++
		}
		if want := (len(next.chunks) + midEvery - 1) / midEvery * midSize; len(next.mids) != want {
			t.Fatalf("round %d: %d bytes of SHA-256 states kept for %d chunks, want %d", round, len(next.mids), len(next.chunks), want)
		}
		for i, ch := range next.chunks {
			if ch.len() == 0 || ch.len() > 2*chunkRecords {
				t.Fatalf("round %d: chunk %d has %d records, want 1 to %d", round, i, ch.len(), 2*chunkRecords)
			}
		}
		if got, limit := len(next.chunks), 2*len(m)/chunkRecords+1; got > limit {
			t.Fatalf("round %d: %d records in %d chunks, want at most %d", round, len(m), got, limit)
		}
		if l.len() > 4*chunkRecords && len(diff) < 5 {
			shared := 0
			for _, ch := range next.chunks {
				if slices.Contains(l.chunks, ch) {
					shared++
				}
			}
			if shared < len(next.chunks)-2*len(diff)-1 {
				t.Fatalf("round %d: a diff of %d keys shares %d of %d chunks with the parent, want all but those it touches", round, len(diff), shared, len(next.chunks))
			}
		}
		for i := 0; i < next.len(); i += 97 {
			k := string(next.key(i))
			if j, ok := next.search(0, k); !ok || j != i {
				t.Fatalf("round %d: search(%q) = %d, %v; want %d, true", round, k, j, ok, i)
			}
			if got, want := next.digest(i), m[k].d; got != want {
				t.Fatalf("round %d: digest of %q is %x, want %x", round, k, got, want)
			}
		}
		l = next
	}
	if resumed < 50 {
		t.Errorf("hashKeys started past the first chunk in %d of 300 rounds, want at least 50 (a third of the diffs touch only the last prefix)", resumed)
	}
}
