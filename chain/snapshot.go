package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// State snapshots (state sync, node/statesync).
//
// A snapshot at height h is the committed state after block h, whose hash is
// the state_hash of header h, certified by block h's commit certificate. It
// needs no format of its own and no change to consensus: its manifest is the
// state hash's own input, the key list (keyList.bytes: for every entry in key
// order uvarint(len key), key, SHA-256(value)), so the manifest is verified
// whole by hashing it ("gridmesh/state/v1\n" || manifest = header h's
// state_hash), and every value on its own against its digest in the
// manifest, so that a bad value is pinned on the peer that sent it.
//
// A snapshot is served from a badger read transaction opened under the
// chain's lock at the head (TakeSnapshot): it sees the state of that height
// however many blocks commit after it, costs no copy and no disk, and is
// released by Close. (The other choice, writing snapshots out at an interval,
// would double an authority's state on disk for nothing badger does not
// already keep.) The node decides when to take one (node/statesync: at heights
// that are multiples of a fixed interval, so that every peer holds the same
// heights and a download can be spread over several).
//
// A joining store stages the verified values under Z/<key> (StageSnapshot),
// outside the state, then InstallSnapshot replaces the state by them in one
// pass, writes block h and its certificate, marks the bodies below h pruned
// (a home that state-synced has none of them) and reloads, which checks the
// state hash once more and rebuilds the account index from the installed
// settled records. A crash during the install leaves a state that does not
// hash to its head: Open reports ErrCorrupt and the node starts a fresh store
// (node: repair), which syncs again.
//
// What a home needs. Execution reads only the open slots' orders and
// attestations, balances, admissions, the tariff, votes and the recent
// history records (history: above the floor); it never reads old cleared and
// settled records, and a home prunes them to stubs (prune.go). A joining home
// does not download them at all (Fetch): InstallSnapshot writes their stubs
// from the manifest's digests, so that the store is a pruned home's
// (snapshot_stub.go). A store that pruned serves no stub as a value: Values
// answers ErrPruned for it and the joiner asks another peer.

const pfxStaged = "Z/" // + state key: a staged snapshot value (StageSnapshot)

// maxManifestKey bounds a key in a manifest (state keys are under 200 bytes).
const maxManifestKey = 1 << 10

// Snapshot is the committed state at one height, readable while the chain
// goes on. It holds a badger read transaction until Close.
type Snapshot struct {
	Height   uint64
	Block    []byte // block Height's canonical encoding
	Cert     []byte // its commit certificate
	Manifest []byte // the key list: the state hash's input after its prefix

	keys *keyList
	mu   sync.Mutex // txn is not safe for concurrent use
	txn  *badger.Txn
	done bool
}

// TakeSnapshot opens a snapshot of the committed state at the head.
func (c *Chain) TakeSnapshot() (*Snapshot, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	txn := c.db.NewTransaction(false)
	h := c.head.Height
	blk, err := get(txn, heightKey(pfxBlock, h))
	var cert []byte
	if err == nil {
		cert, err = get(txn, heightKey(pfxCert, h))
	}
	if err != nil {
		txn.Discard()
		return nil, fmt.Errorf("chain: snapshot at %d: %w", h, err)
	}
	keys := c.st.keys
	return &Snapshot{Height: h, Block: blk, Cert: cert, Manifest: keys.bytes(), keys: keys, txn: txn}, nil
}

// Len is the number of state entries.
func (s *Snapshot) Len() int { return s.keys.len() }

// Values returns the values of entries from, from+1, … in key order: at most
// max of them, and no more once their size reaches maxBytes (at least one).
// It stops before a record this store pruned (a stub is not the value) and
// answers ErrPruned when entry from is one: the joiner asks another peer.
func (s *Snapshot) Values(from, max, maxBytes int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrClosed
	}
	if from < 0 || from >= s.keys.len() {
		return nil, fmt.Errorf("%w: entry %d of %d", ErrNotFound, from, s.keys.len())
	}
	it := s.txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pfxState)})
	defer it.Close()
	var out [][]byte
	size := 0
	i := from
	it.Seek(append([]byte(pfxState), s.keys.key(i)...))
	for ; it.Valid() && i < s.keys.len() && len(out) < max && (size < maxBytes || len(out) == 0); it.Next() {
		k := it.Item().Key()[len(pfxState):]
		if !bytes.Equal(k, s.keys.key(i)) {
			return nil, fmt.Errorf("chain: snapshot at %d: store key %q, entry %d is %q", s.Height, k, i, s.keys.key(i))
		}
		v, err := valueOf(it.Item())
		if err != nil {
			return nil, fmt.Errorf("chain: snapshot at %d: entry %q: %w", s.Height, k, err)
		}
		if isStub(string(k), v) {
			if len(out) == 0 {
				return nil, fmt.Errorf("%w: snapshot at %d: entry %d (%q) is a pruned record", ErrPruned, s.Height, i, k)
			}
			break // a pruned record's value is not here: never sent as one
		}
		out = append(out, v)
		size += len(v)
		i++
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("chain: snapshot at %d: entry %d missing in the store", s.Height, from)
	}
	return out, nil
}

// Close releases the snapshot's read transaction.
func (s *Snapshot) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done = true
		s.txn.Discard()
	}
}

// Manifest is a snapshot's verified key list.
type Manifest struct {
	StateHash ident.Hash
	keys      *keyList
	cut       unit.Slot // records of slots below it are stubbed (Fetch; snapshot_stub.go)
}

// ParseManifest checks that b is a key list that hashes to stateHash (a
// certified header's) and parses it: records of uvarint(len key) (1 ..
// 1,024), key, SHA-256 digest, keys strictly increasing, nothing after the
// last.
func ParseManifest(b []byte, stateHash ident.Hash) (*Manifest, error) {
	d := sha256.New()
	d.Write([]byte("gridmesh/state/v1\n"))
	d.Write(b)
	if got := ident.Hash(d.Sum(nil)); got != stateHash {
		return nil, fmt.Errorf("%w: manifest hashes to %s, the certified state hash is %s", ErrEncoding, got, stateHash)
	}
	var l keyListBuilder
	var prev []byte
	for off := 0; off < len(b); {
		n, w := binary.Uvarint(b[off:])
		if w <= 0 || n == 0 || n > maxManifestKey || uint64(len(b)-off-w) < n+32 {
			return nil, fmt.Errorf("%w: manifest record at offset %d", ErrEncoding, off)
		}
		k := b[off+w : off+w+int(n)]
		if w != len(binary.AppendUvarint(nil, n)) || (prev != nil && bytes.Compare(prev, k) >= 0) {
			return nil, fmt.Errorf("%w: manifest key at offset %d", ErrEncoding, off)
		}
		prev = k
		l.add(b[off : off+w+int(n)+32])
		off += w + int(n) + 32
	}
	return &Manifest{StateHash: stateHash, keys: l.list(), cut: unit.Slot(math.MinInt64)}, nil
}

// Len is the number of state entries.
func (m *Manifest) Len() int { return m.keys.len() }

// Key is entry i's key.
func (m *Manifest) Key(i int) string { return string(m.keys.key(i)) }

// Check reports whether v is entry i's value.
func (m *Manifest) Check(i int, v []byte) error {
	if i < 0 || i >= m.keys.len() {
		return fmt.Errorf("%w: entry %d of %d", ErrNotFound, i, m.keys.len())
	}
	if sha256.Sum256(v) != m.keys.digest(i) {
		return fmt.Errorf("value of entry %d (%q) does not match its digest", i, m.keys.key(i))
	}
	return nil
}

// ClearStaged deletes every staged snapshot value (of an earlier attempt).
func (c *Chain) ClearStaged() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.deletePrefix(pfxStaged, nil)
}

// deletePrefix deletes every key with prefix pfx for which keep (if not nil)
// is false.
func (c *Chain) deletePrefix(pfx string, keep func(k []byte) bool) error {
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pfx)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if keep != nil && keep(k) {
				continue
			}
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	return err
}

// StageSnapshot writes the values of entries from, from+1, … of m to the
// staging area, each checked against m.
func (c *Chain) StageSnapshot(m *Manifest, from int, vals [][]byte) error {
	for j, v := range vals {
		if err := m.Check(from+j, v); err != nil {
			return err
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	for j, v := range vals {
		if err := wb.Set([]byte(pfxStaged+m.Key(from+j)), pack(v)); err != nil {
			return fmt.Errorf("chain: stage snapshot: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("chain: stage snapshot: %w", err)
	}
	return nil
}

// ErrSnapshot is returned by InstallSnapshot for a snapshot that does not
// fit the chain (another chain, not above the head, not the block's state).
var ErrSnapshot = errors.New("chain: snapshot does not fit")

// InstallSnapshot replaces the committed state by m's, whose every value
// must be staged, and the head by blk (whose header's state hash m has, and
// which the caller verified as certified by cert). Blocks below it count as
// pruned. The store is synced and reloaded; the staged values are deleted.
func (c *Chain) InstallSnapshot(m *Manifest, blk Block, cert []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	h := blk.Header
	if h.ChainID != c.g.ChainID || h.StateHash != m.StateHash || h.Height <= c.head.Height {
		return fmt.Errorf("%w: block %d of %q with state %s, head %d", ErrSnapshot, h.Height, h.ChainID, h.StateHash, c.head.Height)
	}
	if err := c.installState(m); err != nil {
		return fmt.Errorf("chain: install snapshot: %w", err)
	}
	if err := c.installHead(blk, cert, m.cut); err != nil {
		return fmt.Errorf("chain: install snapshot: %w", err)
	}
	if err := c.load(); err != nil {
		return &corruptError{c.dir, fmt.Errorf("after installing a snapshot: %w", err)}
	}
	if err := c.rebuildIndex(); err != nil {
		return err
	}
	return c.deletePrefix(pfxStaged, nil)
}

// installState deletes the state entries m does not have and writes m's from
// the staging area, each checked against its digest again.
func (c *Chain) installState(m *Manifest) error {
	err := c.deletePrefix(pfxState, func(k []byte) bool {
		_, ok := m.keys.search(0, string(k[len(pfxState):]))
		return ok
	})
	if err != nil {
		return err
	}
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	err = c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pfxStaged)})
		defer it.Close()
		i := 0
		stubs := func() error { // the records this home prunes: their stubs (snapshot_stub.go)
			for ; i < m.Len() && m.stubbed(i); i++ {
				if err := wb.Set([]byte(pfxState+m.Key(i)), m.stubFor(i)); err != nil {
					return err
				}
			}
			return nil
		}
		for it.Rewind(); it.Valid() && i < m.Len(); it.Next() {
			if err := stubs(); err != nil {
				return err
			}
			if i == m.Len() {
				break
			}
			k := it.Item().Key()[len(pfxStaged):]
			if string(k) != m.Key(i) {
				return fmt.Errorf("entry %d (%q) is not staged", i, m.Key(i))
			}
			v, err := valueOf(it.Item())
			if err != nil {
				return fmt.Errorf("staged entry %q: %w", k, err)
			}
			if err := m.Check(i, v); err != nil {
				return err
			}
			if err := wb.Set([]byte(pfxState+m.Key(i)), pack(v)); err != nil {
				return err
			}
			i++
		}
		if err := stubs(); err != nil {
			return err
		}
		if i < m.Len() {
			return fmt.Errorf("entry %d (%q) is not staged", i, m.Key(i))
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	return err
}

// installHead writes blk as the head with cert, marks the bodies below it
// pruned and deletes them, sets the history cut (the records below cut are
// stubs: snapshot_stub.go; the least slot: none), keeps the index lines
// below it and deletes the rest (rebuilt from the installed records), and
// syncs.
func (c *Chain) installHead(blk Block, cert []byte, cut unit.Slot) error {
	h := blk.Header.Height
	below := func(pfx string) func(k []byte) bool {
		return func(k []byte) bool {
			n := binary.BigEndian.Uint64(k[len(pfx):])
			return n == 0 || n >= h
		}
	}
	old, err := c.histPrunedBelow()
	if err != nil {
		return err
	}
	cut = max(cut, old) // a returning home that pruned keeps the lines it kept
	for _, pfx := range []string{pfxBlock, pfxCert, pfxAccount} {
		keep := below(pfx)
		if pfx == pfxAccount {
			keep = func(k []byte) bool { sl, err := lineSlot(k); return err == nil && sl < cut }
		}
		if err := c.deletePrefix(pfx, keep); err != nil {
			return err
		}
	}
	var pv [8]byte
	binary.BigEndian.PutUint64(pv[:], h)
	kvs := [][2][]byte{
		{heightKey(pfxBlock, h), pack(blk.Encode())},
		{heightKey(pfxCert, h), cert},
		{[]byte(keyPruned), pv[:]},
		{[]byte(keyHead), recordJSON(headRec{Height: h, Hash: blk.Hash(), StateHash: blk.Header.StateHash})},
	}
	if cut != unit.Slot(math.MinInt64) {
		kvs = append(kvs, [2][]byte{[]byte(keyHistPruned), slotKeyBytes(cut)})
	}
	err = c.db.Update(func(txn *badger.Txn) error {
		for _, kv := range kvs {
			if err := txn.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return txn.Delete([]byte(keyIndex))
	})
	if err == nil {
		err = c.db.Sync()
	}
	return err
}
