package meter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/unit"
)

var (
	// ErrCorrupt is returned when the journal's stored entries do not form a
	// valid chain (Verify), or when Open finds no good entry to repair to.
	ErrCorrupt = errors.New("meter: journal corrupt")
	// ErrOutOfOrder is returned by Append for a reading not after the last one.
	ErrOutOfOrder = errors.New("meter: reading not after the last journal entry")
	// ErrBackwards is returned by Append for a counter below the last one.
	ErrBackwards = errors.New("meter: counter going backwards")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("meter: journal closed")
)

// maxRepair bounds how many bad entries Open drops from the tail before it
// declares the store corrupt instead.
const maxRepair = 1024

const (
	prefixEntry = 'r'
	metaKey     = "meta"
	metaValue   = "gridmesh meter journal v1"
)

// Journal is the append-only, hash-chained meter journal, stored in its own
// badger directory. All methods are safe for concurrent use.
//
// Durability: badger's SyncWrites is off, so a power cut may lose the last
// second or so of readings, but badger's checksummed log never replays a torn
// write, and Open checks the chain's tail (see OpenJournal). Readings are cheap
// to lose; a corrupt journal is not acceptable.
type Journal struct {
	db *badger.DB

	mu       sync.RWMutex
	closed   bool
	first    uint64 // seq of the first entry (0 if empty)
	last     uint64 // seq of the last entry (0 if empty)
	head     [32]byte
	lastR    Reading
	repaired int
}

// The journal's memtable is small: readings arrive at about 16 KB a minute
// (one entry a few seconds), so a 4 MiB memtable took over four hours to
// fill, and its arena (Go memory, paged in as it is written) and its mapped
// log's written pages made the node's RSS rise all that time, about 30 KiB
// a minute, before dropping at the flush (internal/soaktest). At 256 KiB a
// memtable is flushed every quarter of an hour and holds at most about
// 0.6 MiB of RSS. Every transaction of the journal is one entry or a
// WriteBatch (which splits itself), far below badger's batch limit (15 % of
// the memtable, 38 KiB). A memtable log is replayed at open into an arena
// of the current memtable's size, so a log written with a larger memtable
// and not flushed (a crash, or a journal of an older version) is replayed
// with the size it was written with first (flushOldLogs).
const (
	memTableSize    = 256 << 10
	oldMemTableSize = 4 << 20 // before; the largest a journal has used
)

func badgerOptions(dir string, memTable int64) badger.Options {
	return badger.DefaultOptions(dir).
		WithMemTableSize(memTable).
		WithNumMemtables(2).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(2 << 20).
		WithValueLogFileSize(8 << 20).
		WithValueThreshold(1 << 10). // entries (< 300 bytes) stay in the LSM tree
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithLogger(nil).
		WithSyncWrites(false)
}

// OpenJournal opens (or creates) the journal in dir, a directory of its own.
//
// Open checks the tail: walking back from the last entry, an entry that does
// not decode, whose seq does not match its key, or whose prev hash does not
// match the entry before it is deleted, until a good entry is found. How many
// entries were dropped is reported by Repaired (not as an error: the journal
// is usable). If more than 1024 entries are bad, or no good entry remains, or
// the directory holds something else, Open returns an error wrapping
// ErrCorrupt and touches nothing. Open refuses to run on a 32-bit platform,
// where badger loses data (DESIGN.md, Known traps).
func OpenJournal(dir string) (*Journal, error) {
	if strconv.IntSize != 64 {
		return nil, errors.New("meter: the journal needs a 64-bit platform (badger loses data on 32-bit)")
	}
	if err := flushOldLogs(dir); err != nil {
		return nil, fmt.Errorf("meter: open journal %s: %w", dir, err)
	}
	db, err := badger.Open(badgerOptions(dir, memTableSize))
	if err != nil {
		return nil, fmt.Errorf("meter: open journal %s: %w", dir, err)
	}
	j := &Journal{db: db}
	if err := j.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("meter: open journal %s: %w", dir, err)
	}
	return j, nil
}

// flushOldLogs opens and closes the store in dir with the old memtable size
// if it holds a memtable log larger than the current size's (badger creates
// a log at twice its memtable's size): badger replays the log into an arena
// of that size, and closing flushes it into a table and removes it, so the
// store then opens with the current size. Nothing happens otherwise.
func flushOldLogs(dir string) error {
	logs, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		return err
	}
	old := false
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > 2*memTableSize {
			old = true
		}
	}
	if !old {
		return nil
	}
	db, err := badger.Open(badgerOptions(dir, oldMemTableSize))
	if err != nil {
		return err
	}
	return db.Close()
}

func entryKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixEntry
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func keySeq(k []byte) (uint64, bool) {
	if len(k) != 9 || k[0] != prefixEntry {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// load reads the meta key, the first and last entries, and repairs the tail.
func (j *Journal) load() error {
	var bad []uint64
	err := j.db.View(func(txn *badger.Txn) error {
		meta, err := txn.Get([]byte(metaKey))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			meta = nil
		case err != nil:
			return err
		}
		first, last, any, err := boundKeys(txn)
		if err != nil {
			return err
		}
		if meta == nil {
			if any {
				return fmt.Errorf("%w: entries without a journal header", ErrCorrupt)
			}
			return nil
		}
		v, err := meta.ValueCopy(nil)
		if err != nil {
			return err
		}
		if string(v) != metaValue {
			return fmt.Errorf("%w: not a meter journal (header %q)", ErrCorrupt, v)
		}
		if !any {
			return nil
		}
		if first == 0 || last < first {
			return fmt.Errorf("%w: bad entry keys", ErrCorrupt)
		}
		j.first = first
		for seq := last; seq >= first; seq-- {
			raw, err := getRaw(txn, seq)
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if e, ok := j.goodTail(txn, seq, raw); ok {
				j.last = seq
				j.head = Hash(raw)
				j.lastR = e.Reading
				return nil
			}
			bad = append(bad, seq)
			if len(bad) > maxRepair {
				return fmt.Errorf("%w: more than %d bad entries at the tail (from %d)", ErrCorrupt, maxRepair, last)
			}
		}
		return fmt.Errorf("%w: no good entry (%d entries checked)", ErrCorrupt, len(bad))
	})
	if err != nil {
		return err
	}
	if j.last == 0 && len(bad) == 0 {
		// Empty store: write the header.
		if err := j.db.Update(func(txn *badger.Txn) error {
			return txn.Set([]byte(metaKey), []byte(metaValue))
		}); err != nil {
			return err
		}
	}
	if len(bad) > 0 {
		wb := j.db.NewWriteBatch()
		defer wb.Cancel()
		for _, seq := range bad {
			if err := wb.Delete(entryKey(seq)); err != nil {
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("repair tail: %w", err)
		}
		if err := j.db.Sync(); err != nil {
			return fmt.Errorf("repair tail: %w", err)
		}
		j.repaired = len(bad)
	}
	return nil
}

// goodTail reports whether the entry stored at seq decodes, carries seq, and
// links to the raw bytes stored at seq-1 (or, for the first entry 1, to zero).
func (j *Journal) goodTail(txn *badger.Txn, seq uint64, raw []byte) (Entry, bool) {
	if raw == nil {
		return Entry{}, false
	}
	e, err := DecodeEntry(raw)
	if err != nil || e.Seq != seq {
		return Entry{}, false
	}
	if seq == j.first {
		return e, seq != 1 || e.Prev == [32]byte{}
	}
	prev, err := getRaw(txn, seq-1)
	if err != nil || Hash(prev) != e.Prev {
		return Entry{}, false
	}
	return e, true
}

func getRaw(txn *badger.Txn, seq uint64) ([]byte, error) {
	it, err := txn.Get(entryKey(seq))
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// boundKeys returns the first and last entry seq.
func boundKeys(txn *badger.Txn) (first, last uint64, any bool, err error) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = []byte{prefixEntry}
	it := txn.NewIterator(opts)
	it.Rewind()
	if !it.Valid() {
		it.Close()
		return 0, 0, false, nil
	}
	first, ok1 := keySeq(it.Item().Key())
	it.Close()
	opts.Reverse = true
	rit := txn.NewIterator(opts)
	defer rit.Close()
	rit.Seek(append([]byte{prefixEntry}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	if !rit.Valid() {
		return 0, 0, false, fmt.Errorf("%w: reverse scan found nothing", ErrCorrupt)
	}
	last, ok2 := keySeq(rit.Item().Key())
	if !ok1 || !ok2 {
		return 0, 0, false, fmt.Errorf("%w: bad entry key", ErrCorrupt)
	}
	return first, last, true, nil
}

// Repaired is the number of bad tail entries OpenJournal dropped (0 normally).
// The node should log it; it is not an error because the journal kept every
// entry whose chain is intact.
func (j *Journal) Repaired() int { return j.repaired }

// Close closes the journal. Further calls return ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	j.closed = true
	if err := j.db.Close(); err != nil {
		return fmt.Errorf("meter: close journal: %w", err)
	}
	return nil
}

// Append adds r as the next entry. r.Time must be after the last entry's time,
// and neither counter may be below the last entry's (ErrOutOfOrder,
// ErrBackwards); Serial is at most MaxSerial bytes. The write is not synced
// (see Journal).
func (j *Journal) Append(r Reading) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if j.last > 0 {
		if !r.Time.After(j.lastR.Time) {
			return fmt.Errorf("%w: %v not after %v", ErrOutOfOrder, r.Time, j.lastR.Time)
		}
		if r.Import < j.lastR.Import || r.Export < j.lastR.Export {
			return fmt.Errorf("%w: import %d→%d, export %d→%d", ErrBackwards,
				j.lastR.Import, r.Import, j.lastR.Export, r.Export)
		}
	}
	e := Entry{Seq: j.last + 1, Prev: j.head, Reading: r}
	b, err := e.Encode()
	if err != nil {
		return err
	}
	if err := j.db.Update(func(txn *badger.Txn) error {
		return txn.Set(entryKey(e.Seq), b)
	}); err != nil {
		return fmt.Errorf("meter: append entry %d: %w", e.Seq, err)
	}
	if j.first == 0 {
		j.first = e.Seq
	}
	j.last = e.Seq
	j.head = Hash(b)
	r.Time = time.Unix(0, r.Time.UnixNano()).UTC() // as it will read back
	j.lastR = r
	return nil
}

// Last returns the last entry's reading; ok is false for an empty journal.
func (j *Journal) Last() (Reading, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.lastR, j.last > 0
}

// Len returns the number of entries.
func (j *Journal) Len() uint64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.last == 0 {
		return 0
	}
	return j.last - j.first + 1
}

// Head returns the SHA-256 of the last entry's encoding, which commits to the
// whole journal; zero for an empty journal. Attestations carry it.
func (j *Journal) Head() [32]byte {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.head
}

// Verify walks the chain from the first entry to the last: every entry must
// decode canonically, carry its key's seq, link to the previous entry's hash,
// and keep time increasing and counters non-decreasing; the last hash must be
// Head. It returns nil or an error wrapping ErrCorrupt that names the entry.
// Appends wait while it runs.
func (j *Journal) Verify() error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed {
		return ErrClosed
	}
	return j.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixEntry}
		opts.PrefetchSize = 64
		it := txn.NewIterator(opts)
		defer it.Close()
		var (
			want   = j.first
			prevH  [32]byte
			prevR  Reading
			n      uint64
			buf    []byte
			hashed bool
		)
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			seq, ok := keySeq(item.Key())
			if !ok || seq != want {
				return fmt.Errorf("%w: entry %d: unexpected key %x", ErrCorrupt, want, item.Key())
			}
			if seq > j.last {
				break // appended after we took the lock? cannot happen; be safe
			}
			var err error
			buf, err = item.ValueCopy(buf[:0])
			if err != nil {
				return fmt.Errorf("meter: verify entry %d: %w", seq, err)
			}
			e, err := DecodeEntry(buf)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrCorrupt, seq, err)
			}
			if e.Seq != seq {
				return fmt.Errorf("%w: entry %d carries seq %d", ErrCorrupt, seq, e.Seq)
			}
			if hashed || seq == 1 {
				if e.Prev != prevH {
					return fmt.Errorf("%w: entry %d: previous hash mismatch", ErrCorrupt, seq)
				}
			}
			if hashed {
				if !e.Reading.Time.After(prevR.Time) {
					return fmt.Errorf("%w: entry %d: time not increasing", ErrCorrupt, seq)
				}
				if e.Reading.Import < prevR.Import || e.Reading.Export < prevR.Export {
					return fmt.Errorf("%w: entry %d: counter going backwards", ErrCorrupt, seq)
				}
			}
			prevH, prevR, hashed = Hash(buf), e.Reading, true
			want++
			n++
		}
		if j.last != 0 && (want != j.last+1 || prevH != j.head) {
			return fmt.Errorf("%w: chain ends at %d, head is entry %d", ErrCorrupt, want-1, j.last)
		}
		return nil
	})
}

// Energy returns the energy imported and exported in [from, to]: the counters
// at to minus the counters at from. A counter at a time between two readings
// is interpolated linearly between them and rounded down (floor) to a whole
// Wh; at a reading's own time it is that reading's counter. Because both
// borders round the same way, consecutive windows add up exactly:
// Energy(a, b) + Energy(b, c) = Energy(a, c).
//
// ok is false if from is after to or the journal does not cover [from, to]:
// it needs a reading at or before from and one at or after to.
func (j *Journal) Energy(from, to time.Time) (imp, exp unit.Wh, ok bool) {
	if to.Before(from) {
		return 0, 0, false
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed || j.last == 0 {
		return 0, 0, false
	}
	err := j.db.View(func(txn *badger.Txn) error {
		i0, e0, ok0 := j.counterAt(txn, from)
		i1, e1, ok1 := j.counterAt(txn, to)
		if !ok0 || !ok1 {
			return errNotCovered
		}
		imp, exp = i1-i0, e1-e0
		return nil
	})
	if err != nil {
		return 0, 0, false
	}
	return imp, exp, true
}

var errNotCovered = errors.New("not covered")

// readingAt returns the reading of entry seq (within [first, last]).
func readingAt(txn *badger.Txn, seq uint64) (Reading, bool) {
	raw, err := getRaw(txn, seq)
	if err != nil {
		return Reading{}, false
	}
	e, err := DecodeEntry(raw)
	if err != nil {
		return Reading{}, false
	}
	return e.Reading, true
}

// counterAt interpolates both counters at t. Caller holds j.mu.
func (j *Journal) counterAt(txn *badger.Txn, t time.Time) (imp, exp unit.Wh, ok bool) {
	seq, ok := j.seqAtOrBefore(txn, t)
	if !ok {
		return 0, 0, false
	}
	r0, ok := readingAt(txn, seq)
	if !ok {
		return 0, 0, false
	}
	if r0.Time.Equal(t) {
		return r0.Import, r0.Export, true
	}
	if seq == j.last {
		return 0, 0, false
	}
	r1, ok := readingAt(txn, seq+1)
	if !ok {
		return 0, 0, false
	}
	num := uint64(t.Sub(r0.Time))
	den := uint64(r1.Time.Sub(r0.Time))
	return r0.Import + lerp(r1.Import-r0.Import, num, den),
		r0.Export + lerp(r1.Export-r0.Export, num, den), true
}

// lerp returns floor(d × num / den) for 0 <= d, 0 <= num <= den, den > 0,
// computed in 128 bits.
func lerp(d unit.Wh, num, den uint64) unit.Wh {
	hi, lo := bits.Mul64(uint64(d), num)
	q, _ := bits.Div64(hi, lo, den)
	return unit.Wh(q)
}

// seqAtOrBefore returns the largest seq whose reading time is <= t; ok is
// false if the first entry is after t or the journal is empty. Caller holds j.mu.
func (j *Journal) seqAtOrBefore(txn *badger.Txn, t time.Time) (uint64, bool) {
	if j.last == 0 {
		return 0, false
	}
	lo, hi := j.first, j.last
	r0, ok := readingAt(txn, lo)
	if !ok || r0.Time.After(t) {
		return 0, false
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		r, ok := readingAt(txn, mid)
		if !ok {
			return 0, false
		}
		if r.Time.After(t) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo, true
}

// Scan calls fn for every entry whose reading time is in [from, to], in
// order, until fn returns false.
func (j *Journal) Scan(from, to time.Time, fn func(e Entry) bool) error {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed {
		return ErrClosed
	}
	if j.last == 0 || to.Before(from) {
		return nil
	}
	return j.db.View(func(txn *badger.Txn) error {
		start, ok := j.seqAtOrBefore(txn, from)
		if !ok {
			start = j.first
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixEntry}
		opts.PrefetchSize = 32
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(entryKey(start)); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("meter: scan: %w", err)
			}
			e, err := DecodeEntry(v)
			if err != nil {
				return fmt.Errorf("%w: entry %x: %v", ErrCorrupt, it.Item().Key(), err)
			}
			if e.Reading.Time.After(to) {
				return nil
			}
			if !e.Reading.Time.Before(from) && !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// Prune deletes the entries older than before, keeping the last entry at or
// before it so that Energy still covers windows starting at before. It
// returns how many entries it deleted. Verify then starts at the new first
// entry (whose prev hash commits to the deleted history).
func (j *Journal) Prune(before time.Time) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, ErrClosed
	}
	var keep uint64
	err := j.db.View(func(txn *badger.Txn) error {
		k, ok := j.seqAtOrBefore(txn, before)
		if ok {
			keep = k
		}
		return nil
	})
	if err != nil || keep <= j.first {
		return 0, err
	}
	wb := j.db.NewWriteBatch()
	defer wb.Cancel()
	for seq := j.first; seq < keep; seq++ {
		if err := wb.Delete(entryKey(seq)); err != nil {
			return 0, fmt.Errorf("meter: prune: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("meter: prune: %w", err)
	}
	n := int(keep - j.first)
	j.first = keep
	return n, nil
}
