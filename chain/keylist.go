package chain

import (
	"crypto/sha256"
	"encoding"
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
// block (BenchmarkStateHashYear), growing with the list; after 30 simulated
// days already a quarter of the bytes `gridmesh sim year` allocated, each
// of them bringing the collector's next cycle nearer. Now a block copies
// the chunks its diff touches and a list of chunk pointers: 118 KB a block
// in the benchmark at a year; in 30 simulated days of 100 homes mergeKeys
// allocated 779 MB over 7,221 blocks, 108 KB a block, where copying the
// whole list had allocated 1.83 GB (`gridmesh sim year --homes 100 --days
// 30 --memprofile F`, `go tool pprof -sample_index=alloc_space`). Hashing
// still reads every record (the state hash is SHA-256 over them all,
// unchanged: hashDiff writes the same bytes in the same order). Chunks
// shrink only when their keys are deleted; records being gathered under
// half a chunk take the next chunk's records rather than sharing it, so
// small chunks do not pile up.
type keyList struct {
	chunks []*keyChunk
	first  []int // first[c] is the index of chunk c's first record; first[len(chunks)] is the list's length
	// mids is the state hash's SHA-256 state before chunks 0, midEvery,
	// 2·midEvery, … (midSize bytes each), set by hashKeys; empty if the
	// list was not hashed so.
	mids []byte
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
	if l.len() == 0 {
		return nil
	}
	n := 0
	for _, ch := range l.chunks {
		n += len(ch.stream)
	}
	b := make([]byte, 0, n)
	l.each(0, l.len(), func(p []byte) { b = append(b, p...) })
	return b
}

// size is the memory the list holds: its chunks' records and offsets, and
// its own slices.
func (l *keyList) size() int {
	if l == nil {
		return 0
	}
	n := 16*len(l.chunks) + len(l.mids) // a pointer and an index a chunk
	for _, ch := range l.chunks {
		n += len(ch.stream) + 8*len(ch.offs)
	}
	return n
}

// keyListBuilder makes a key list from records in key order, copied
// (add) or whole chunks of another list, shared (copyRun).
type keyListBuilder struct {
	l    keyList
	open keyChunk // the records being gathered into the next chunk; its buffers are reused
}

// openLen is the number of records being gathered.
func (b *keyListBuilder) openLen() int { return max(len(b.open.offs)-1, 0) }

// add appends a copy of one record. Gathered records that would pass
// 2·chunkRecords are split: the first chunkRecords become a chunk, the rest
// stay gathered, so that what is left to fill is at least half a chunk and
// the next chunk of the parent list can be shared (copyRun): an insertion
// copies one or two chunks, not every chunk after it.
func (b *keyListBuilder) add(rec []byte) {
	o := &b.open
	if b.openLen() >= 2*chunkRecords {
		cut := o.offs[chunkRecords]
		b.l.chunks = append(b.l.chunks, &keyChunk{stream: slices.Clone(o.stream[:cut]), offs: slices.Clone(o.offs[:chunkRecords+1])})
		o.stream = o.stream[:copy(o.stream, o.stream[cut:])]
		for i, off := range o.offs[chunkRecords:] {
			o.offs[i] = off - cut
		}
		o.offs = o.offs[:len(o.offs)-chunkRecords]
	}
	if o.offs == nil {
		o.stream = make([]byte, 0, 2*chunkRecords*64)
		o.offs = append(make([]int, 0, 2*chunkRecords+1), 0)
	}
	o.stream = append(o.stream, rec...)
	o.offs = append(o.offs, len(o.stream))
}

// addRecord appends the record of key k with digest d.
func (b *keyListBuilder) addRecord(k string, d *ident.Hash) {
	var rec [binary.MaxVarintLen64 + 64 + len(ident.Hash{})]byte
	b.add(appendRecord(rec[:0], k, d))
}

// closeOpen makes the gathered records a chunk, in memory of its own size.
func (b *keyListBuilder) closeOpen() {
	if b.openLen() == 0 {
		return
	}
	o := &b.open
	b.l.chunks = append(b.l.chunks, &keyChunk{stream: slices.Clone(o.stream), offs: slices.Clone(o.offs)})
	o.stream, o.offs = o.stream[:0], o.offs[:1]
}

// copyRun appends l's records [a, c): a chunk of l that lies whole in the
// run is shared, unless the chunk being filled is under half full (then its
// records are copied into it, so that small chunks merge); the rest are
// copied record by record.
func (b *keyListBuilder) copyRun(l *keyList, a, c int) {
	for a < c {
		ch, j := l.at(a)
		n := min(c-a, ch.len()-j)
		if j == 0 && n == ch.len() && (b.openLen() == 0 || b.openLen() >= chunkRecords/2) {
			b.closeOpen()
			b.l.chunks = append(b.l.chunks, ch)
		} else {
			for r := j; r < j+n; r++ {
				b.add(ch.stream[ch.offs[r]:ch.offs[r+1]])
			}
		}
		a += n
	}
}

// list is the key list built; the builder is not used after.
func (b *keyListBuilder) list() *keyList {
	b.closeOpen()
	l := &b.l
	b.open = keyChunk{}
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

// stateHashTag is what the state hash writes before the first record.
const stateHashTag = "gridmesh/state/v1\n"

// The state hash is SHA-256 over the whole key list, so a block whose diff
// touches only its last keys would still read every record before them. A
// key list therefore keeps the hash's SHA-256 state before every midEvery-th
// chunk (keyList.mids), and the next block's hash (hashKeys) starts from the
// last one before the first chunk its list does not share with its parent:
// the same bytes in the same order, so the same state hash. Its keys sort
// by prefix (a/ participants, b/ balances, c/ and d/ the cleared and settled
// records of every slot, most of the list, then o/ orders, s/ attestations,
// t/ txs, …), so a block of orders and attestations rehashes only what
// follows the records, a clearing what follows its cleared record, and a
// settlement, which changes balances, nearly all of it.
const midEvery = 4

// midSize is the size of a SHA-256 state as crypto/sha256 marshals it.
var midSize = len(must(sha256.New().(encoding.BinaryMarshaler).MarshalBinary()))

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// hashKeys is the state hash of the key list l, made by mergeKeys from
// parent (nil: hashed from the start). It reads the chunks l does not share
// with parent from the last SHA-256 state parent kept before them (from is
// the first chunk it read), and sets l.mids; l must not be shared yet.
func hashKeys(l, parent *keyList) (h ident.Hash, from int) {
	d := sha256.New()
	start := 0
	l.mids = l.mids[:0]
	if parent != nil && len(parent.mids) > 0 {
		shared := 0
		for shared < len(l.chunks) && shared < len(parent.chunks) && l.chunks[shared] == parent.chunks[shared] {
			shared++
		}
		if m := min(shared/midEvery, len(parent.mids)/midSize-1); m > 0 {
			if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(parent.mids[m*midSize : (m+1)*midSize]); err != nil {
				panic("chain: state hash: " + err.Error())
			}
			start = m * midEvery
			l.mids = append(make([]byte, 0, (len(l.chunks)/midEvery+1)*midSize), parent.mids[:m*midSize]...)
		}
	}
	if start == 0 {
		d.Write([]byte(stateHashTag))
	}
	for c := start; c < len(l.chunks); c++ {
		if c%midEvery == 0 {
			var err error
			if l.mids, err = d.(encoding.BinaryAppender).AppendBinary(l.mids); err != nil {
				panic("chain: state hash: " + err.Error())
			}
		}
		ch := l.chunks[c]
		d.Write(ch.stream[ch.offs[0]:ch.offs[len(ch.offs)-1]])
	}
	d.Sum(h[:0])
	return h, start
}
