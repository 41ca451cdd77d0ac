package chain

import (
	"encoding/binary"
	"slices"
	"sort"

	"github.com/gridmesh/gridmesh/ident"
)

// keyList is the committed state's entries in key order, as the state hash
// reads them: record i is uvarint(len key), key, SHA-256(value). It is
// shared and never modified; nil is the empty list.
//
// Decision: the records lie back to back in chunks of up to 2·chunkRecords
// records, and a block's key list shares every chunk its diff does not
// touch with its parent's. It was one stream, copied whole at every block:
// at a year of 100 homes (70,681 entries, 4.2 MB) 4.4 MB allocated per
// block (BenchmarkStateHashYear), growing with the list, some 190 GB over a
// year by that estimate; after 30 simulated days already a quarter of the
// bytes `gridmesh sim year` allocated (--memprofile, alloc_space), so the
// collector ran ever more often as the chain aged. Now a block copies the chunks its diff
// touches (a few: the keys of a block's changes cluster by prefix, slot and
// account) and a list of chunk pointers. Hashing still reads every record
// (the state hash is SHA-256 over them all, unchanged: hashDiff writes the
// same bytes in the same order). Chunks shrink only when their keys are
// deleted; a chunk being filled under half full takes the next one's records
// rather than sharing it, so small chunks do not pile up.
type keyList struct {
	chunks []*keyChunk
	first  []int // first[c] is the index of chunk c's first record; first[len(chunks)] is the list's length
}

// keyChunk is a stretch of a key list's records: record j is
// stream[offs[j]:offs[j+1]].
type keyChunk struct {
	stream []byte
	offs   []int
}

// chunkRecords is the size of the chunks a keyListBuilder makes: from
// chunkRecords to 2·chunkRecords records (about 7.5 to 15 KB at 59 bytes a
// record), fewer only for the list's last chunk or a chunk closed before a
// shared one (then at least half of chunkRecords); a shared chunk shrinks
// when its keys are deleted, until a diff touches it again.
const chunkRecords = 128

func (k *keyChunk) len() int { return len(k.offs) - 1 }

func (l *keyList) len() int {
	if l == nil || len(l.first) == 0 {
		return 0
	}
	return l.first[len(l.first)-1]
}

// at is the chunk holding record i and i's index in it.
func (l *keyList) at(i int) (*keyChunk, int) {
	c := sort.Search(len(l.chunks), func(c int) bool { return l.first[c+1] > i })
	return l.chunks[c], i - l.first[c]
}

func (l *keyList) record(i int) []byte {
	ch, j := l.at(i)
	return ch.stream[ch.offs[j]:ch.offs[j+1]]
}

func (l *keyList) key(i int) []byte {
	r := l.record(i)
	n, w := binary.Uvarint(r)
	return r[w : w+int(n)]
}

func (l *keyList) digest(i int) ident.Hash {
	r := l.record(i)
	return ident.Hash(r[len(r)-len(ident.Hash{}):])
}

// search returns the first index from lo on whose key is not below k, and
// whether its key is k.
func (l *keyList) search(lo int, k string) (int, bool) {
	i, j := lo, l.len()
	for i < j {
		h := int(uint(i+j) >> 1)
		if string(l.key(h)) < k {
			i = h + 1
		} else {
			j = h
		}
	}
	return i, i < l.len() && string(l.key(i)) == k
}

// each calls f with the records [a, b) in order, as stretches of bytes (one
// per chunk).
func (l *keyList) each(a, b int, f func([]byte)) {
	if a >= b {
		return
	}
	c := sort.Search(len(l.chunks), func(c int) bool { return l.first[c+1] > a })
	for ; a < b; c++ {
		ch, j := l.chunks[c], a-l.first[c]
		n := min(b-a, ch.len()-j)
		f(ch.stream[ch.offs[j]:ch.offs[j+n]])
		a += n
	}
}

// bytes is all the records back to back: the state hash's input after its
// prefix, and a snapshot's manifest.
func (l *keyList) bytes() []byte {
	var b []byte
	l.each(0, l.len(), func(p []byte) { b = append(b, p...) })
	return b
}

// size is the memory the list holds: its chunks' records and offsets, and
// its own slices.
func (l *keyList) size() int {
	if l == nil {
		return 0
	}
	n := 16 * len(l.chunks) // a pointer and an index
	for _, ch := range l.chunks {
		n += len(ch.stream) + 8*len(ch.offs)
	}
	return n
}

// keyListBuilder makes a key list from records in key order, copied
// (add) or whole chunks of another list, shared (copyRun).
type keyListBuilder struct {
	l    keyList
	open *keyChunk // being filled; nil: none
}

// add appends a copy of one record. A chunk being filled that would pass
// 2·chunkRecords records is split in two of chunkRecords, so that what is
// left to fill is at least half a chunk and the next chunk of the parent
// list can be shared (copyRun): an insertion copies one or two chunks, not
// every chunk after it.
func (b *keyListBuilder) add(rec []byte) {
	if b.open != nil && b.open.len() >= 2*chunkRecords {
		full := b.open
		b.open = nil
		b.appendRecords(full, 0, chunkRecords)
		b.closeOpen()
		b.appendRecords(full, chunkRecords, full.len())
	}
	if b.open == nil {
		b.open = &keyChunk{stream: make([]byte, 0, 2*chunkRecords*64), offs: make([]int, 1, 2*chunkRecords+1)}
	}
	b.open.stream = append(b.open.stream, rec...)
	b.open.offs = append(b.open.offs, len(b.open.stream))
}

// appendRecords appends a copy of ch's records [from, to).
func (b *keyListBuilder) appendRecords(ch *keyChunk, from, to int) {
	for r := from; r < to; r++ {
		b.add(ch.stream[ch.offs[r]:ch.offs[r+1]])
	}
}

// addRecord appends the record of key k with digest d.
func (b *keyListBuilder) addRecord(k string, d *ident.Hash) {
	var rec [binary.MaxVarintLen64 + 64 + len(ident.Hash{})]byte
	b.add(appendRecord(rec[:0], k, d))
}

// closeOpen ends the chunk being filled, in memory of its own size.
func (b *keyListBuilder) closeOpen() {
	if b.open != nil && b.open.len() > 0 {
		b.l.chunks = append(b.l.chunks, &keyChunk{stream: slices.Clone(b.open.stream), offs: slices.Clone(b.open.offs)})
	}
	b.open = nil
}

// copyRun appends l's records [a, c): a chunk of l that lies whole in the
// run is shared, unless the chunk being filled is under half full (then its
// records are copied into it, so that small chunks merge); the rest are
// copied record by record.
func (b *keyListBuilder) copyRun(l *keyList, a, c int) {
	for a < c {
		ch, j := l.at(a)
		n := min(c-a, ch.len()-j)
		if j == 0 && n == ch.len() && (b.open == nil || b.open.len() >= chunkRecords/2) {
			b.closeOpen()
			b.l.chunks = append(b.l.chunks, ch)
		} else {
			b.appendRecords(ch, j, j+n)
		}
		a += n
	}
}

// list is the key list built; the builder is not used after.
func (b *keyListBuilder) list() *keyList {
	b.closeOpen()
	l := &b.l
	l.first = make([]int, 1, len(l.chunks)+1)
	for _, ch := range l.chunks {
		l.first = append(l.first, l.first[len(l.first)-1]+ch.len())
	}
	return l
}

// mergeKeys is the key list of l with diff applied.
func mergeKeys(l *keyList, diff []keyChange) *keyList {
	var b keyListBuilder
	merge(l, diff,
		func(a, c int) { b.copyRun(l, a, c) },
		func(ch *keyChange) { b.addRecord(ch.key, &ch.e.d) })
	return b.list()
}
